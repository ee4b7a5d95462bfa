// Package redisclient connects a service to Redis as the platform runs it:
// plain TCP in dev, TLS with the AUTH token in staging and prod (ElastiCache
// with transit encryption accepts nothing else). The settings are the same
// keys for every service: REDIS_ADDR, REDIS_PASSWORD (or REDIS_PASSWORD_FILE,
// rendered by the Vault Agent), REDIS_TLS and REDIS_CA_FILE.
package redisclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/intelliflow/platform/internal/envconfig"
)

// Config is where Redis is and how to reach it.
type Config struct {
	// Addr is host:port; empty means the service runs without Redis.
	Addr     string
	Password string
	TLS      bool
	// CAs verifies the server's certificate; nil means the system roots
	// (ElastiCache's chain to them; a private CA is for tests).
	CAs *x509.CertPool
}

// Read reads the Redis settings; required makes REDIS_ADDR mandatory.
func Read(r *envconfig.Reader, required bool) Config {
	c := Config{Addr: r.String("REDIS_ADDR", "")}
	if required {
		r.Require("REDIS_ADDR")
		if c.Addr == "" {
			r.Fail(errors.New("REDIS_ADDR: required"))
		}
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			r.Fail(fmt.Errorf("REDIS_ADDR: %q is not host:port", c.Addr))
		}
	}
	c.Password = r.Secret("REDIS_PASSWORD", false)
	c.TLS = r.Bool("REDIS_TLS", false)
	if pem, set := r.File("REDIS_CA_FILE"); set {
		if !c.TLS {
			r.Fail(errors.New("REDIS_CA_FILE is set but REDIS_TLS is not true"))
		}
		c.CAs = x509.NewCertPool()
		if pem != nil && !c.CAs.AppendCertsFromPEM(pem) {
			r.Fail(errors.New("REDIS_CA_FILE holds no PEM certificate"))
		}
	}
	return c
}

// Options are go-redis's options for c. Commands never retry on their own:
// callers decide what a failed read or write means. A command ends at its
// context's deadline: go-redis otherwise waits out its own socket timeouts
// (3 s) on a stalled Redis, past every deadline a caller set.
func (c Config) Options() *redis.Options {
	opts := &redis.Options{Addr: c.Addr, Password: c.Password, DialTimeout: time.Second, MaxRetries: -1, ContextTimeoutEnabled: true}
	if c.TLS {
		host, _, _ := net.SplitHostPort(c.Addr)
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: c.CAs}
	}
	return opts
}

// New connects lazily: the first command dials.
func New(c Config) *redis.Client { return redis.NewClient(c.Options()) }
