// Package jenkins holds the delivery pipelines (Jenkinsfile, the nightly
// Jenkinsfile.security, the agent image's Jenkinsfile.agent), their helper scripts and Jenkins' configuration
// as code (casc.yaml), embedded so the Jenkins component installs exactly
// what is reviewed here, and tested for structure (nothing here can run
// Jenkins).
package jenkins

import _ "embed"

// Pipeline is the delivery pipeline; Security the nightly security job.
//
//go:embed Jenkinsfile
var Pipeline string

//go:embed Jenkinsfile.security
var Security string

// Agent builds the go agent's image.
//
//go:embed Jenkinsfile.agent
var Agent string

// CasC is Jenkins' configuration as code.
//
//go:embed casc.yaml
var CasC string

// Stages are the delivery pipeline's stages in order, as the README lists
// them (a test holds the three together).
var Stages = []string{"Preparation", "Quality gates", "Build and test", "Tests", "Images", "Scan", "Preview", "Deploy staging", "Approve prod", "Deploy prod"}

// AgentNamespace is where the agents' pods run; it enforces restricted Pod
// Security.
const AgentNamespace = "intelliflow-ci"

// AgentLabels are the pod templates casc.yaml defines and the pipelines use.
var AgentLabels = []string{"go", "go-bootstrap", "trivy", "sonar", "zap", "nuclei", "kube-hunter", "falco"}
