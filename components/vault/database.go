package vault

import (
	"fmt"
	"strings"
)

// The group roles the dynamic users join. Vault's admin is the RDS master
// user: it may create roles but is not a superuser, so nothing but these
// statements creates them, and they must work on an empty database.
const (
	// OwnerRole owns every table: tables outlive the hour-long users that
	// create them, so read-write sessions act as this role.
	OwnerRole = "intelliflow_owner"
	// GroupRolePrefix + a role name (readonly, readwrite) is its group role.
	GroupRolePrefix = "intelliflow_"
)

// bootstrapLock serialises the first credential requests: two sessions
// granting on the same catalogue rows at once fail with "tuple concurrently
// updated". The number is arbitrary but fixed.
const bootstrapLock = 727_401_001

// groupRoles creates the group roles if they are missing. It is a DO block,
// which Vault runs whole (it contains END); everything else is split on ';'.
func groupRoles() string {
	var b strings.Builder
	b.WriteString("DO $$\nBEGIN\n")
	for _, r := range []string{OwnerRole, GroupRolePrefix + DBReadWrite, GroupRolePrefix + DBReadOnly} {
		fmt.Fprintf(&b, "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s NOLOGIN; END IF;\n", r, r)
	}
	b.WriteString("END $$")
	return b.String()
}

// CreationStatements create a database user for role (readonly, readwrite)
// in database, expiring with its lease. The first ones also create and
// grant the group roles; every statement is idempotent, and they run in
// Vault's one transaction per request.
func CreationStatements(role, database string) []string {
	rw, ro := GroupRolePrefix+DBReadWrite, GroupRolePrefix+DBReadOnly
	grants := strings.Join([]string{
		// Read-write members may act as the owner; the admin must be one to
		// set default privileges for it and to reassign to it.
		fmt.Sprintf("GRANT %s TO %s", OwnerRole, rw),
		fmt.Sprintf("GRANT %s TO CURRENT_USER", OwnerRole),
		fmt.Sprintf(`GRANT CONNECT, TEMPORARY ON DATABASE %q TO %s, %s`, database, rw, ro),
		fmt.Sprintf("GRANT USAGE, CREATE ON SCHEMA public TO %s", OwnerRole),
		fmt.Sprintf("GRANT USAGE ON SCHEMA public TO %s", ro),
		fmt.Sprintf("GRANT SELECT ON ALL TABLES IN SCHEMA public TO %s", ro),
		fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT ON TABLES TO %s", OwnerRole, ro),
	}, ";\n") + ";"
	user := fmt.Sprintf(`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE %s%s;`, GroupRolePrefix, role)
	if role == DBReadWrite {
		// Tables a session creates belong to the owner, not to the user
		// that disappears within hours.
		user += fmt.Sprintf(` ALTER ROLE "{{name}}" SET role = '%s';`, OwnerRole)
	}
	lock := fmt.Sprintf("SELECT pg_advisory_xact_lock(%d);", bootstrapLock)
	return []string{lock, groupRoles(), grants, user}
}

// MonitorStatements create a statistics-only user for the metrics
// exporter: pg_monitor reads activity and settings, no table data.
func MonitorStatements() []string {
	return []string{`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE pg_monitor;`}
}

// RevocationStatements drop a dynamic user. Whatever it still owns goes to
// the owner role first; the admin joins the user's role because REASSIGN
// OWNED needs membership of both roles.
func RevocationStatements() []string {
	return []string{fmt.Sprintf(`GRANT "{{name}}" TO CURRENT_USER; REASSIGN OWNED BY "{{name}}" TO %s; DROP OWNED BY "{{name}}"; DROP ROLE IF EXISTS "{{name}}";`, OwnerRole)}
}
