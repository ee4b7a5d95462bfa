// Package identity carries who is calling from the gateway to the services.
// The gateway verifies the caller's token and client address, removes any
// of these headers the client sent, and sets them; the services trust them
// because the NetworkPolicies admit only the gateway (and each other) to
// their API port.
package identity

import (
	"net"
	"net/http"
	"strings"
)

// Headers the gateway sets.
const (
	// SubjectHeader is the verified token's subject (the user id).
	SubjectHeader = "X-IntelliFlow-Subject"
	// RoleHeader is the verified token's role claim.
	RoleHeader = "X-IntelliFlow-Role"
	// ClientIPHeader is the client's address as the gateway determined it
	// (X-Forwarded-For trusted only from the configured proxies).
	ClientIPHeader = "X-IntelliFlow-Client-IP"
)

// Headers lists them, for the gateway to strip from what clients send.
var Headers = []string{SubjectHeader, RoleHeader, ClientIPHeader}

// Roles.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Caller is an authenticated caller.
type Caller struct {
	Subject, Role string
}

// Admin reports whether the caller has the admin role.
func (c Caller) Admin() bool { return c.Role == RoleAdmin }

// FromRequest is the caller the gateway verified, if any.
func FromRequest(r *http.Request) (Caller, bool) {
	c := Caller{Subject: r.Header.Get(SubjectHeader), Role: r.Header.Get(RoleHeader)}
	return c, c.Subject != ""
}

// ClientIP is the client's address: the gateway's header, or the peer's
// address for a request that did not come through it.
func ClientIP(r *http.Request) string {
	if ip := strings.TrimSpace(r.Header.Get(ClientIPHeader)); net.ParseIP(ip) != nil {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
