//go:build race

package main

// raceBuild: the tests run under the race detector, so the server binary
// they build for load runs carries it too.
const raceBuild = true
