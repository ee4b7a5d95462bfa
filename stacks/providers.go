package stacks

// Providers are the Pulumi resource providers a stack's program uses, by
// package name: the plugins an engine run of the stack needs. kubernetes
// always; aws for the foundation; random for the credentials the AWS stacks
// generate; vault where the program configures Vault. infra's tests run
// every stack under mocks and hold the resources' packages to this list.
func (c Config) Providers() []string {
	p := []string{"kubernetes"}
	if c.AWS != nil {
		p = append(p, "aws")
	}
	if c.GeneratesCredentials() {
		p = append(p, "random")
	}
	if c.Vault != nil && c.Vault.Configure {
		p = append(p, "vault")
	}
	return p
}
