// Command pause is the local cluster's pod sandbox: the process that holds
// a pod's namespaces while its containers come and go. There is no
// registry to pull the upstream pause image from, so the devcluster packs
// this one into an image and imports it into containerd. It does what the
// upstream one does: reaps the children a pod's processes leave to it (it
// is PID 1 when the pod shares its process namespace) and exits on TERM or
// INT.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
