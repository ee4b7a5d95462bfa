package localplatform

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/internal/ferretserver"
	"github.com/intelliflow/platform/internal/freeport"
	"github.com/intelliflow/platform/internal/pgserver"
)

// dbUser is the local PostgreSQL's only role (trust on loopback: dev only).
const dbUser = "intelliflow"

// startPostgres runs a PostgreSQL with the intelliflow database (the
// services' schemas) and ferretdb (analytics' documents).
func (p *Platform) startPostgres(ctx context.Context) error {
	bin, err := pgserver.BinDir()
	if err != nil {
		return err
	}
	// Under the system's temporary folder: as root the server runs as
	// postgres, which must reach its folder (a test's or a home's parent
	// folders may be closed to it). Removed at Stop.
	dir, err := os.MkdirTemp("", "intelliflow-local-pg-")
	if err != nil {
		return err
	}
	p.pgDir = dir
	cred, err := pgserver.Account(dir)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", dbUser, "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	settings := []string{"-c", "listen_addresses=" + p.bind, "-c", "unix_socket_directories=" + dir, "-c", "fsync=off"}
	if p.creds != nil {
		// A stack's services log in with their passwords over TLS; the
		// socket (this process) stays trusted.
		if err := p.postgresTLS(data, cred); err != nil {
			return err
		}
		settings = append(settings, "-c", "ssl=on", "-c", "ssl_cert_file=server.crt", "-c", "ssl_key_file=server.key")
	}
	// The admin connection goes through the socket in dir.
	admin := func(port int, db string) string {
		return fmt.Sprintf("postgres:///%s?host=%s&port=%d&user=%s&sslmode=disable", db, dir, port, dbUser)
	}
	ports, err := p.startOn(catalog.Postgres, 1, func(ports []int) (*proc, error) {
		pr, err := p.spawn("postgres", cred, nil, filepath.Join(bin, "postgres"), append([]string{"-D", data, "-p", strconv.Itoa(ports[0])}, settings...)...)
		if err != nil {
			return nil, err
		}
		pr.stopSig = syscall.SIGINT // fast shutdown
		return pr, pr.wait(ctx, func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, admin(ports[0], "postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			var serving string
			if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&serving); err != nil {
				return err
			}
			if serving != data {
				return fmt.Errorf("another PostgreSQL (%s) answers: %w", serving, freeport.ErrInUse)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	p.pgPort = ports[0]
	conn, err := pgx.Connect(ctx, admin(p.pgPort, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, db := range []string{"intelliflow", "ferretdb"} {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return p.createRoles(ctx, admin(p.pgPort, "intelliflow"))
}

// startRedis runs a redis-server with a password, keeping nothing on disk.
func (p *Platform) startRedis(ctx context.Context) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("no redis-server; run scripts/install-services.sh")
	}
	password := RedisPassword
	if p.creds != nil {
		password = p.creds["redis-password"]
	}
	ports, err := p.startOn(catalog.Redis, 1, func(ports []int) (*proc, error) {
		pr, err := p.spawn("redis", nil, nil, bin, "--port", strconv.Itoa(ports[0]), "--bind", p.bind,
			"--requirepass", password, "--save", "", "--appendonly", "no", "--dir", p.dir)
		if err != nil {
			return nil, err
		}
		return pr, pr.wait(ctx, func(ctx context.Context) error {
			rdb := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(p.bind, strconv.Itoa(ports[0])), Password: password})
			defer rdb.Close()
			info, err := rdb.Info(ctx, "server").Result()
			if err != nil {
				return err
			}
			if !bytes.Contains([]byte(info), []byte(fmt.Sprintf("process_id:%d\r", pr.cmd.Process.Pid))) {
				return fmt.Errorf("another redis answers: %w", freeport.ErrInUse)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	p.redisAddr = net.JoinHostPort(p.bind, strconv.Itoa(ports[0]))
	return nil
}

// startFerretDB runs FerretDB on the local PostgreSQL's ferretdb database.
func (p *Platform) startFerretDB(ctx context.Context) error {
	bin, err := ferretserver.Binary(p.o.Root)
	if err != nil {
		return err
	}
	state := filepath.Join(p.dir, "ferretdb")
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	if p.creds != nil {
		return p.startFerretDBTLS(ctx, bin, state)
	}
	ports, err := p.startOn(catalog.MongoDB, 1, func(ports []int) (*proc, error) {
		pg := fmt.Sprintf("postgres://%s@127.0.0.1:%d/ferretdb", dbUser, p.pgPort)
		pr, err := p.spawn("ferretdb", nil, nil, bin, ferretserver.Args(pg, ports[0], state)...)
		if err != nil {
			return nil, err
		}
		return pr, pr.wait(ctx, func(ctx context.Context) error { return ferretserver.Check(ctx, ports[0], pr.cmd.Process.Pid) })
	})
	if err != nil {
		return err
	}
	p.mongoURI = ferretserver.URI(ports[0])
	return nil
}

// startMailpit runs mailpit as the SMTP relay, STARTTLS required with a
// certificate of a CA made for this run, any login accepted (dev only);
// its web UI and API show what arrived.
func (p *Platform) startMailpit(ctx context.Context) error {
	bin := filepath.Join(p.o.Root, "bin", "local", "mailpit")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s is missing: run tools/local/install.sh (make local-tools)", bin)
	}
	dir := filepath.Join(p.dir, "mailpit")
	cert, key, err := p.writeCertificate(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), p.ca.PEM, 0o600); err != nil {
		return err
	}
	ports, err := p.startOn(catalog.SMTP, 2, func(ports []int) (*proc, error) {
		pr, err := p.spawn("mailpit", nil, nil, bin, "--smtp", net.JoinHostPort(p.bind, strconv.Itoa(ports[0])), "--listen", fmt.Sprintf("127.0.0.1:%d", ports[1]),
			"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls",
			"--smtp-auth-accept-any", "--database", filepath.Join(dir, "mail.db"))
		if err != nil {
			return nil, err
		}
		return pr, pr.wait(ctx, func(ctx context.Context) error {
			if err := httpReady(fmt.Sprintf("http://127.0.0.1:%d/api/v1/info", ports[1]), `"Version"`)(ctx); err != nil {
				return err
			}
			return tcpReady(net.JoinHostPort(p.bind, strconv.Itoa(ports[0])))(ctx)
		})
	})
	if err != nil {
		return err
	}
	// The certificate names the bind address.
	p.smtpAddr, p.MailpitURL, p.smtpCA = net.JoinHostPort(p.bind, strconv.Itoa(ports[0])), fmt.Sprintf("http://127.0.0.1:%d", ports[1]), filepath.Join(dir, "ca.pem")
	return nil
}

// startKafka runs kfake, Kafka's protocol in this process; the services
// create their topics. It listens where the stores do.
func (p *Platform) startKafka() error {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(func(network, addr string) (net.Listener, error) {
		_, port, _ := net.SplitHostPort(addr)
		return net.Listen(network, net.JoinHostPort(p.bind, port))
	})}
	if port, ok := p.ports[catalog.Kafka]; ok {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	p.kafka = c
	return nil
}

// startS3 serves the model bucket from memory, in this process (over TLS
// where a stack's pods reach it).
func (p *Platform) startS3(bucket string) error {
	backend := s3mem.New()
	if err := backend.CreateBucket(bucket); err != nil {
		return err
	}
	srv, err := p.serveHTTP(catalog.S3, gofakes3.New(backend).Server())
	if err != nil {
		return err
	}
	p.s3, p.s3Backend, p.modelBucket = srv, backend, bucket
	return nil
}

func (p *Platform) putObject(key string, b []byte) error {
	_, err := p.s3Backend.PutObject(p.modelBucket, key, map[string]string{}, bytes.NewReader(b), int64(len(b)), nil)
	return err
}
