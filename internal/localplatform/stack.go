package localplatform

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/apps/fraud/modelversion"
	"github.com/intelliflow/platform/internal/ferretserver"
)

// StoresOptions say which stack the stores are for.
type StoresOptions struct {
	// Root is the repository (bin/local, apps/fraud/model); Dir the
	// state folder, emptied at start.
	Root, Dir string
	// Address is the one the stores listen on (the local cluster's real
	// node reaches its host at the bridge's gateway).
	Address string
	// Ports are the stack's port of each store.
	Ports map[catalog.Store]int
	// Credentials are the stack's, by key: each store checks its own.
	Credentials map[string]string
	// ModelURI is the stack's fraud model (s3://bucket/prefix/version/
	// model.json): the committed model is put there.
	ModelURI string
	// CAFile receives the certificate of the CA that signed the stores'
	// certificate (the stack's trustedCAFile).
	CAFile   string
	Progress io.Writer
}

// StartStores runs the stores a stack's services reach, as that stack
// names them: PostgreSQL with a role per service that uses it (the
// stack's database password; TLS), Redis with its password, FerretDB on
// that PostgreSQL (TLS, each login checked by PostgreSQL, so analytics
// logs in with PLAIN), mailpit (STARTTLS), Kafka (kfake), the model
// bucket and the model registry (HTTPS, the registry checking the stack's
// token), all on Address. Their certificate names Address and is signed
// by a CA made for the run, written to CAFile. Nothing listens elsewhere
// but mailpit's web UI, on loopback.
func StartStores(ctx context.Context, o StoresOptions) (*Platform, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if net.ParseIP(o.Address) == nil {
		return nil, fmt.Errorf("stores: %q is not an IP address", o.Address)
	}
	if !localAddress(o.Address) {
		return nil, fmt.Errorf("stores: %s is no address of this machine (the local cluster's real node puts 10.88.0.1 on its bridge: make cluster ARGS=--real-node first)", o.Address)
	}
	loc, err := modelversion.ParseLocation(o.ModelURI)
	if err != nil || !strings.HasSuffix(o.ModelURI, "/"+modelversion.ModelFile) {
		return nil, fmt.Errorf("stores: the fraud model %q is not s3://<bucket>/<prefix>/<version>/%s", o.ModelURI, modelversion.ModelFile)
	}
	var missing []string
	for _, k := range []string{"database-password", "redis-password", "mongodb-password", "mlflow-token"} {
		if o.Credentials[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("stores: the stack's credentials lack %s", strings.Join(missing, ", "))
	}
	p, err := newPlatform(Options{Root: o.Root, Dir: o.Dir, Progress: o.Progress}, o.Address)
	if err != nil {
		return nil, err
	}
	p.ports, p.creds = o.Ports, o.Credentials
	if err := os.WriteFile(o.CAFile, p.ca.PEM, 0o644); err != nil {
		return nil, err
	}
	if err := p.startStores(ctx, loc.Bucket, &loc); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// localAddress reports whether ip is one of this machine's interfaces'.
func localAddress(ip string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(net.ParseIP(ip)) {
			return true
		}
	}
	return false
}

// Addresses are where the stores listen, by store.
func (p *Platform) Addresses() map[catalog.Store]string {
	out := map[catalog.Store]string{
		catalog.Postgres: net.JoinHostPort(p.bind, strconv.Itoa(p.pgPort)),
		catalog.Redis:    p.redisAddr, catalog.SMTP: p.smtpAddr,
		catalog.MongoDB: strings.TrimSuffix(strings.TrimPrefix(p.mongoURI, "mongodb://"), "/"),
		catalog.Kafka:   strings.Join(p.kafka.ListenAddrs(), ","),
		catalog.S3:      strings.TrimPrefix(p.s3.URL, "https://"), catalog.MLflow: strings.TrimPrefix(p.mlflowSrv.URL, "https://"),
	}
	return out
}

// postgresTLS puts the stores' certificate in the data folder and lets
// the services in only over TLS with their passwords (SCRAM); the socket
// stays trusted for this process's setup.
func (p *Platform) postgresTLS(data string, cred *syscall.Credential) error {
	files := map[string][]byte{"server.crt": p.leaf.CertPEM, "server.key": p.leaf.KeyPEM,
		"pg_hba.conf": []byte("local all all trust\nhostssl all all all scram-sha-256\n")}
	for name, b := range files {
		path := filepath.Join(data, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
		if cred != nil {
			if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// createRoles gives every service that logs in to PostgreSQL (directly,
// or through FerretDB) a role with the stack's password: tables in the
// intelliflow database's public schema, documents in ferretdb.
func (p *Platform) createRoles(ctx context.Context, adminURL string) error {
	if p.creds == nil {
		return nil
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, svc := range catalog.All() {
		for _, st := range svc.Stores {
			var key, grant string
			switch st {
			case catalog.Postgres:
				key, grant = "database-password", "GRANT CREATE ON SCHEMA public TO %[1]s; GRANT CONNECT ON DATABASE intelliflow TO %[1]s"
			case catalog.MongoDB:
				key, grant = "mongodb-password", "GRANT CREATE, CONNECT ON DATABASE ferretdb TO %[1]s"
			default:
				continue
			}
			role := pgx.Identifier{svc.Name}.Sanitize()
			password := "'" + strings.ReplaceAll(p.creds[key], "'", "''") + "'"
			for _, sql := range []string{"CREATE ROLE " + role + " LOGIN PASSWORD " + password, fmt.Sprintf(grant, role)} {
				if _, err := conn.Exec(ctx, sql); err != nil {
					return fmt.Errorf("role %s: %w", svc.Name, err)
				}
			}
		}
	}
	return nil
}

// startFerretDBTLS runs FerretDB listening only with TLS, each login
// passed to PostgreSQL over TLS to be checked there.
func (p *Platform) startFerretDBTLS(ctx context.Context, bin, state string) error {
	cert, key, err := p.writeCertificate(filepath.Join(p.dir, "ferretdb-tls"))
	if err != nil {
		return err
	}
	ports, err := p.startOn(catalog.MongoDB, 1, func(ports []int) (*proc, error) {
		addr := net.JoinHostPort(p.bind, strconv.Itoa(ports[0]))
		pg := fmt.Sprintf("postgres://%s/ferretdb?sslmode=require", net.JoinHostPort(p.bind, strconv.Itoa(p.pgPort)))
		args := append(ferretserver.Args(pg, 0, state), "--listen-addr=", "--listen-tls="+addr, "--listen-tls-cert-file="+cert, "--listen-tls-key-file="+key)
		pr, err := p.spawn("ferretdb", nil, nil, bin, args...)
		if err != nil {
			return nil, err
		}
		return pr, pr.wait(ctx, tcpReady(addr))
	})
	if err != nil {
		return err
	}
	p.mongoURI = "mongodb://" + net.JoinHostPort(p.bind, strconv.Itoa(ports[0])) + "/"
	return nil
}

// writeCertificate writes the stores' certificate and key into dir (made
// here) for a server that reads them from files, and returns their paths.
func (p *Platform) writeCertificate(dir string) (cert, key string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, p.leaf.CertPEM, 0o600); err != nil {
		return "", "", err
	}
	return cert, key, os.WriteFile(key, p.leaf.KeyPEM, 0o600)
}

// serveHTTP serves h in this process: on a free loopback port (make
// local), or with TLS on the stack's address and port for st.
func (p *Platform) serveHTTP(st catalog.Store, h http.Handler) (*httptest.Server, error) {
	if p.creds == nil {
		return httptest.NewServer(h), nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.bind, strconv.Itoa(p.ports[st])))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", st, err)
	}
	cert, err := tls.X509KeyPair(p.leaf.CertPEM, p.leaf.KeyPEM)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	return srv, nil
}
