// Package s3test serves an S3-protocol bucket from memory in the test's
// process (gofakes3), with the AWS SDK's credentials set for the test, for
// the code that fetches and publishes model versions.
package s3test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Bucket is one bucket on its own server.
type Bucket struct {
	// Endpoint is the server's URL (path-style requests).
	Endpoint string
	Name     string
	backend  *s3mem.Backend
}

// Start serves an empty bucket name until the test ends. It sets the AWS
// SDK's credentials and region in the environment for the test (the
// server takes any), so it cannot run in a parallel test.
func Start(t testing.TB, name string) *Bucket {
	t.Helper()
	backend := s3mem.New()
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	if err := backend.CreateBucket(name); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	return &Bucket{Endpoint: srv.URL, Name: name, backend: backend}
}

// Put stores data at key.
func (b *Bucket) Put(t testing.TB, key string, data []byte) {
	t.Helper()
	if _, err := b.backend.PutObject(b.Name, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// Keys lists the keys under prefix.
func (b *Bucket) Keys(t testing.TB, prefix string) []string {
	t.Helper()
	list, err := b.backend.ListBucket(b.Name, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range list.Contents {
		out = append(out, c.Key)
	}
	return out
}

// Versions are the version folders under prefix that hold a model.json.
func (b *Bucket) Versions(t testing.TB, prefix string) []string {
	t.Helper()
	var out []string
	for _, k := range b.Keys(t, prefix) {
		if strings.HasSuffix(k, "/model.json") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(k, prefix), "/model.json"))
		}
	}
	return out
}
