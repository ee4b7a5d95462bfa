package modelversion

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"
)

// TestNewS3SignsOnlyWithKeys: against an S3-compatible endpoint the client
// signs with the environment's static keys when there are some, and sends
// unsigned requests when not (no instance role to ask for there).
func TestNewS3SignsOnlyWithKeys(t *testing.T) {
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket("models"))
	_, err := backend.PutObject("models", "fraud/v1/model.json", map[string]string{}, strings.NewReader("{}"), 2, nil)
	require.NoError(t, err)
	var mu sync.Mutex
	var auth []string
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		fake.ServeHTTP(w, r)
	}))
	defer srv.Close()
	get := func() string {
		c, err := NewS3(context.Background(), srv.URL)
		require.NoError(t, err)
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("fraud/v1/model.json")})
		require.NoError(t, err)
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		require.NoError(t, err)
		require.Equal(t, "{}", string(b))
		mu.Lock()
		defer mu.Unlock()
		return auth[len(auth)-1]
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_REGION", "")
	require.Empty(t, get(), "unsigned without keys")
	t.Setenv("AWS_ACCESS_KEY_ID", "local")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "dev-only")
	t.Setenv("AWS_REGION", "eu-west-1")
	require.Contains(t, get(), "AWS4-HMAC-SHA256 Credential=local/", "signed with the keys given")
}
