// Command devcluster runs the local control plane of internal/devcluster
// for the dev stack (make cluster, make cluster-down).
//
//	devcluster up   [--dir .cluster] [--bin bin/cluster] [--general 4] [--gpu 2] [--metrics=true]
//	devcluster down [--dir .cluster]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/intelliflow/platform/internal/devcluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: devcluster up|down [flags]")
	}
	o := devcluster.DefaultOptions()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.StringVar(&o.Dir, "dir", o.Dir, "state folder: data, certificates, logs, kubeconfig")
	fs.StringVar(&o.Bin, "bin", o.Bin, "folder of the control-plane binaries")
	fs.IntVar(&o.General, "general", o.General, "general nodes (spread over the zones)")
	fs.IntVar(&o.GPU, "gpu", o.GPU, "GPU nodes (spread over the zones)")
	fs.BoolVar(&o.Metrics, "metrics", o.Metrics, "serve metrics.k8s.io (metrics-server) for the HPAs")
	fs.BoolVar(&o.RealNode, "real-node", o.RealNode, "add a real node: a kubelet with containerd on this host (root; down puts the host back)")
	fs.IntVar(&o.KubeletPort, "kubelet-port", o.KubeletPort, "the real node's kubelet port")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	switch args[0] {
	case "up":
		if o.General < 1 || o.GPU < 0 {
			return fmt.Errorf("--general %d --gpu %d: want at least one general node", o.General, o.GPU)
		}
		_, err := devcluster.Up(o)
		return err
	case "down":
		n, err := devcluster.Down(o.Dir)
		if err == nil {
			fmt.Printf("devcluster: stopped %d processes\n", n)
		}
		return err
	}
	return fmt.Errorf("unknown command %q: want up or down", args[0])
}
