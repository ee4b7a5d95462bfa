package main

import "github.com/intelliflow/platform/policy/rules"

// exceptions waive one rule for one resource. Each needs a reason a reviewer
// can judge; every waived finding is still reported, as advisory, on every
// preview (policy "excepted-findings"). Add entries here, in review, never
// by turning a rule off. Example:
//
//	{Rule: "SEC-09", Type: "kubernetes:apps/v1:DaemonSet", Name: "falco",
//	 Reason: "Falco reads host syscalls; it runs in its own privileged namespace"},
var exceptions = []rules.Exception{}
