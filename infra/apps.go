package infra

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/intelliflow/platform/apps/catalog"
	"github.com/intelliflow/platform/components/ingress"
	"github.com/intelliflow/platform/components/microservice"
	"github.com/intelliflow/platform/components/priority"
	"github.com/intelliflow/platform/components/vault"
	"github.com/intelliflow/platform/stacks"
)

// Model files live on the fraud pods' shared volume.
const (
	modelVolume = "models"
	modelDir    = "/models"
)

// The ConfigMap of the stack's trusted CA certificates, in the app
// namespace.
const (
	trustedCAConfigMap = "trusted-ca"
	trustedCAKey       = "ca.pem"
)

// credentialsSecret names a service's Secret.
func credentialsSecret(service string) string { return service + "-credentials" }

// serviceArgs derives a service's Microservice arguments from the catalog and
// the stack: what it is (catalog) and how big and where (stack).
func serviceArgs(cfg stacks.Config, f *Foundation, svc catalog.Service, namespace pulumi.StringInput) (*microservice.Args, error) {
	size, ok := cfg.Services[svc.Name]
	if !ok {
		return nil, fmt.Errorf("service %q: the stack has no size for it", svc.Name)
	}
	network, err := networkFor(cfg, svc)
	if err != nil {
		return nil, err
	}
	args := &microservice.Args{
		Namespace:   namespace,
		Name:        svc.Name,
		Image:       cfg.Image(svc.Name),
		Port:        svc.Port,
		MetricsPort: svc.MetricsPort,
		Probes:      microservice.Probes{LivenessPath: svc.LivenessPath, ReadinessPath: svc.ReadinessPath},
		Config:      configFor(cfg, svc),
		Resources: microservice.Resources{
			CPURequest: size.CPURequest, MemoryRequest: size.MemoryRequest, CPULimit: size.CPULimit, MemoryLimit: size.MemoryLimit,
		},
		Replicas:    microservice.Replicas{Min: size.MinReplicas, Max: size.MaxReplicas},
		Autoscaling: microservice.Autoscaling{CPUUtilization: size.CPUUtilization},
		Placement: microservice.Placement{
			RequiredHostAntiAffinity: size.RequiredHostAntiAffinity,
			StrictZoneSpread:         cfg.Environment == stacks.Prod,
			PriorityClass:            priorityClass(svc.Name).Name,
		},
		Network:        network,
		ServiceAccount: microservice.ServiceAccount{KubernetesAPI: svc.CallsKubernetesAPI},
		ServiceMonitor: cfg.ServiceMonitors,
		Labels:         map[string]string{"intelliflow.io/environment": string(cfg.Environment)},
	}
	if p := cfg.NodePlacement; p != nil {
		args.Placement.NodeSelector = p.NodeSelector
		for _, t := range p.Tolerations {
			args.Placement.Tolerations = append(args.Placement.Tolerations, microservice.Toleration{Key: t.Key, Value: t.Value, Effect: t.Effect})
		}
	}
	if m := size.PodsMetric; m != nil {
		args.Autoscaling.Pods = &microservice.Metric{Name: m.Name, AverageValue: m.AverageValue}
	}
	if m := size.ExternalMetric; m != nil {
		args.Autoscaling.External = &microservice.Metric{Name: m.Name, AverageValue: m.AverageValue}
	}
	if size.GPU > 0 {
		args.GPU, args.GPUNodeGroup = size.GPU, cfg.GPUNodeGroup
	}
	if f != nil {
		// The managed stores' coordinates replace the config's.
		for _, st := range svc.Stores {
			for k, v := range f.Config[st] {
				delete(args.Config, k)
				if args.ConfigFrom == nil {
					args.ConfigFrom = map[string]pulumi.StringInput{}
				}
				args.ConfigFrom[k] = v
			}
		}
		if arn, ok := f.Roles[svc.Name]; ok {
			args.ServiceAccount.IRSARoleARN = arn
		}
	}
	for _, s := range svc.Secrets {
		if cfg.Vault != nil {
			args.Secrets = append(args.Secrets, vaultSecretEnv(cfg, svc, s)...)
			continue
		}
		args.Secrets = append(args.Secrets, microservice.SecretEnv{Env: s.Env, SecretName: credentialsSecret(svc.Name), Key: s.Key})
	}
	if cfg.Vault != nil && len(svc.Secrets) > 0 {
		// The agent renders each secret into a file the service reads; the
		// database user is dynamic, so it leaves the ConfigMap.
		args.Vault = &microservice.Vault{Role: svc.Name, Namespace: stacks.SecurityNamespace, Port: vault.Port}
		delete(args.Config, "DATABASE_USER")
	}
	// The service that reloads fraud (the orchestrator) proves who it is
	// with a token for fraud's audience, finds fraud's pods in the app
	// namespace and publishes into the serving path fraud fetches from.
	if fraud, err := catalog.Get(catalog.Fraud); err == nil && fraud.ReloadedBy == svc.Name {
		args.PeerToken = &microservice.PeerToken{Audience: ReloadAudience(catalog.Fraud), Dir: "/var/run/secrets/intelliflow/" + catalog.Fraud}
		args.Config["FRAUD_NAMESPACE"] = cfg.Environment.AppNamespace()
		if b := cfg.FraudModel.Bucket(); b != "" {
			args.Config["SERVING_PATH"] = "s3://" + b + "/" + ServingPrefix
		}
	}
	if svc.SlowStart {
		// Fetching and loading a model: five minutes before liveness counts.
		args.Probes.StartupSeconds = 300
	}
	if svc.ModelArtifact {
		args.SharedVolume = &microservice.SharedVolume{Name: modelVolume, MountPath: modelDir, SizeLimit: "2Gi"}
		// The orchestrator promotes into the serving path of the model's
		// bucket; a reload naming a version fetches it from there into
		// the model folder.
		if b := cfg.FraudModel.Bucket(); b != "" {
			args.Config["MODEL_SOURCE"] = "s3://" + b + "/" + ServingPrefix
			args.SharedVolume.Writable = true
		}
		fetch := microservice.InitContainer{
			Name:  "model-fetch",
			Image: cfg.Image("model-fetch"),
			// Writes a version folder under modelDir, which the server's
			// registry checks against its reference predictions.
			Args: []string{
				"--source", cfg.FraudModel.URI,
				"--sha256", cfg.FraudModel.SHA256,
				"--out", modelDir,
			},
		}
		if e := cfg.S3Endpoint(); e != "" {
			fetch.Args = append(fetch.Args, "--endpoint", e)
		}
		args.InitContainers = []microservice.InitContainer{fetch}
	}
	return args, nil
}

// ReloadAudience is the token audience a service checks its reloads for.
func ReloadAudience(service string) string { return "intelliflow-" + service }

// ServingPrefix is the model bucket's folder of promoted fraud versions.
const ServingPrefix = "fraud/serving"

// priorityClass puts the payment path above everything else.
func priorityClass(service string) priority.Class {
	if service == catalog.Gateway || service == catalog.Transactions {
		return priority.Critical
	}
	return priority.Standard
}

// networkFor turns the catalog's peers and stores into NetworkPolicy terms.
func networkFor(cfg stacks.Config, svc catalog.Service) (microservice.Network, error) {
	n := microservice.Network{
		Callers:             catalog.CallersOf(svc.Name),
		MonitoringNamespace: stacks.MonitoringNamespace,
	}
	if svc.Public {
		n.IngressControllerNamespace = stacks.IngressNamespace
		if lb := cfg.Ingress.LoadBalancer; lb != nil {
			n.PublicCIDRs = lb.SourceRanges
			if len(n.PublicCIDRs) == 0 {
				n.PublicCIDRs = []string{"0.0.0.0/0"}
			}
		}
	}
	for _, name := range svc.Calls {
		peer, err := catalog.Get(name)
		if err != nil {
			return n, fmt.Errorf("service %q calls %w", svc.Name, err)
		}
		n.Calls = append(n.Calls, microservice.Peer{Name: peer.Name, Port: peer.Port})
	}
	for _, st := range svc.Stores {
		e, ok := cfg.DataStores[st]
		if !ok {
			return n, fmt.Errorf("service %q uses %s, which the stack has no endpoint for", svc.Name, st)
		}
		n.Egress = append(n.Egress, microservice.CIDRRule{Name: string(st), CIDRs: e.CIDRs, Port: e.Port})
	}
	if svc.CallsKubernetesAPI {
		// The API server: in EKS its private endpoint's interfaces are in
		// the VPC, port 443 (policies see the endpoint after the Service's
		// translation).
		n.Egress = append(n.Egress, microservice.CIDRRule{Name: "kubernetes-api", CIDRs: clusterNetworks(cfg), Port: 443})
	}
	return n, nil
}

// configFor is a service's non-secret environment: its own settings, where
// its stores and peers are, and who it is.
func configFor(cfg stacks.Config, svc catalog.Service) map[string]string {
	out := map[string]string{}
	for k, v := range svc.Config {
		out[k] = v
	}
	if svc.Public {
		// The ingress controller's pods run in the cluster's networks: only
		// their X-Forwarded-For names the client. The stack's ingress
		// settings are the gateway's too.
		out["TRUSTED_PROXY_CIDRS"] = strings.Join(clusterNetworks(cfg), ",")
		out["CORS_ALLOWED_ORIGINS"] = strings.Join(cfg.Ingress.CORSOrigins, ",")
		out["RATE_LIMIT_PER_MINUTE"] = strconv.Itoa(cfg.Ingress.RateLimitPerMinute)
	}
	if svc.ReloadedBy != "" {
		out["RELOAD_CALLERS"] = "system:serviceaccount:" + cfg.Environment.AppNamespace() + ":" + svc.ReloadedBy
		out["RELOAD_TOKEN_AUDIENCE"] = ReloadAudience(svc.Name)
	}
	if svc.AccessTokens {
		out["JWT_ISSUER"] = "https://" + cfg.Ingress.Host
		out["JWT_AUDIENCE"] = catalog.TokenAudience
	}
	out["SERVICE_NAME"] = svc.Name
	out["ENVIRONMENT"] = string(cfg.Environment)
	out["HTTP_PORT"] = strconv.Itoa(svc.Port)
	out["METRICS_PORT"] = strconv.Itoa(svc.MetricsPort)
	out["LOG_LEVEL"] = "info"
	if cfg.Environment == stacks.Dev {
		out["LOG_LEVEL"] = "debug"
	}
	hostPort := func(st catalog.Store) string {
		e := cfg.DataStores[st]
		return e.Host + ":" + strconv.Itoa(e.Port)
	}
	for _, st := range svc.Stores {
		switch st {
		case catalog.Postgres:
			out["DATABASE_HOST"] = cfg.DataStores[st].Host
			out["DATABASE_PORT"] = strconv.Itoa(cfg.DataStores[st].Port)
			out["DATABASE_NAME"] = "intelliflow"
			out["DATABASE_USER"] = svc.Name
		case catalog.Redis:
			out["REDIS_ADDR"] = hostPort(st)
		case catalog.Kafka:
			out["KAFKA_BROKERS"] = hostPort(st)
		case catalog.MongoDB:
			out["MONGODB_URI"] = "mongodb://" + hostPort(st) + "/intelliflow?tls=true"
			out["MONGODB_USER"] = svc.Name
			if m := cfg.DataStores[st].AuthMechanism; m != "" {
				out["MONGODB_AUTH_MECHANISM"] = m
			}
		case catalog.S3:
			// An S3-compatible server instead of AWS's.
			if e := cfg.S3Endpoint(); e != "" {
				out["S3_ENDPOINT"] = e
			}
		case catalog.SMTP:
			out["SMTP_ADDR"] = hostPort(st)
			// The relay's user whose password is the smtp-password
			// credential (Alertmanager logs in as the same one).
			out["SMTP_USERNAME"] = cfg.Alerting.SMTPUser
		case catalog.MLflow:
			out["MLFLOW_URL"] = "https://" + hostPort(st)
		}
	}
	if cfg.AWS != nil {
		out["AWS_REGION"] = cfg.AWS.Region
		for _, st := range svc.Stores {
			switch st {
			case catalog.Redis:
				out["REDIS_TLS"] = "true" // ElastiCache with transit encryption
			case catalog.Kafka:
				out["KAFKA_SASL_MECHANISM"] = "AWS_MSK_IAM" // IRSA credentials, TLS
			}
		}
	}
	ns := cfg.Environment.AppNamespace()
	for _, peer := range svc.Calls {
		out[strings.ToUpper(peer)+"_URL"] = "http://" + peer + "." + ns + ".svc.cluster.local"
	}
	return out
}

// deployApps creates every service of the catalog, each with the Secret of
// exactly the credentials it reads.
func deployApps(ctx *pulumi.Context, cfg stacks.Config, creds credentials, f *Foundation, namespace pulumi.StringInput, opts ...pulumi.ResourceOption) (map[string]*microservice.Microservice, error) {
	out := map[string]*microservice.Microservice{}
	var trustedCA *microservice.TrustedCA
	if cfg.TrustedCA != "" {
		ca, err := corev1.NewConfigMap(ctx, trustedCAConfigMap, &corev1.ConfigMapArgs{
			// Auto-named: new certificates make a new ConfigMap, whose
			// name rolls the pods (Go reads its roots once).
			Metadata: &metav1.ObjectMetaArgs{
				Namespace: namespace,
				Labels:    pulumi.StringMap{"app.kubernetes.io/part-of": pulumi.String("intelliflow")},
			},
			Immutable: pulumi.Bool(true),
			Data:      pulumi.StringMap{trustedCAKey: pulumi.String(cfg.TrustedCA)},
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("configmap %s: %w", trustedCAConfigMap, err)
		}
		trustedCA = &microservice.TrustedCA{ConfigMap: ca.Metadata.Name().Elem(), Key: trustedCAKey}
	}
	for _, svc := range catalog.All() {
		args, err := serviceArgs(cfg, f, svc, namespace)
		if err != nil {
			return nil, err
		}
		args.TrustedCA = trustedCA
		svcOpts := opts
		if len(svc.Secrets) > 0 && cfg.Vault == nil {
			data := pulumi.StringMap{}
			for _, s := range svc.Secrets {
				data[s.Key] = creds.get(s.Key)
			}
			secret, err := corev1.NewSecret(ctx, credentialsSecret(svc.Name), &corev1.SecretArgs{
				Metadata: &metav1.ObjectMetaArgs{
					Name:      pulumi.String(credentialsSecret(svc.Name)),
					Namespace: namespace,
					Labels:    pulumi.StringMap{microservice.AppLabel: pulumi.String(svc.Name), "app.kubernetes.io/part-of": pulumi.String("intelliflow")},
				},
				Type:       pulumi.String("Opaque"),
				StringData: data,
			}, opts...)
			if err != nil {
				return nil, fmt.Errorf("secret %s: %w", credentialsSecret(svc.Name), err)
			}
			svcOpts = append(append([]pulumi.ResourceOption{}, opts...), pulumi.DependsOn([]pulumi.Resource{secret}))
		}
		m, err := microservice.New(ctx, svc.Name, args, svcOpts...)
		if err != nil {
			return nil, err
		}
		out[svc.Name] = m
	}
	return out, nil
}

// publicEntryArgs exposes the public service (the gateway) as the stack says.
func publicEntryArgs(cfg stacks.Config, namespace pulumi.StringInput) (*ingress.Args, error) {
	var public *catalog.Service
	for _, s := range catalog.All() {
		if s.Public {
			public = &s
		}
	}
	if public == nil {
		return nil, fmt.Errorf("the catalog has no public service")
	}
	in := cfg.Ingress
	args := &ingress.Args{
		Namespace:          namespace,
		Service:            public.Name,
		ServicePort:        80,
		Selector:           map[string]string{microservice.AppLabel: public.Name},
		TargetPort:         "http",
		Host:               in.Host,
		Paths:              in.Paths,
		ClusterIssuer:      in.ClusterIssuer,
		RateLimitPerMinute: in.RateLimitPerMinute,
		CORSOrigins:        in.CORSOrigins,
		// A dev cluster has no ingress controller to give it an address;
		// staging and prod wait for theirs.
		SkipAwait: cfg.Environment == stacks.Dev && cfg.Kubernetes.Kubeconfig != "",
	}
	if lb := in.LoadBalancer; lb != nil {
		args.LoadBalancer = &ingress.LoadBalancer{CertificateARN: lb.CertificateARN, SourceRanges: lb.SourceRanges}
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("config %s:ingress: %w", stacks.Namespace, err)
	}
	return args, nil
}
