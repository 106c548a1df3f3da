// Command validate checks deployment files without running them:
//
//	validate envoy deploy/envoy/envoy.yaml
//	validate compose docker-compose.yml
//	validate k8s deploy/k8s
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: validate envoy|compose|k8s FILE-OR-DIR...")
		os.Exit(2)
	}
	check := map[string]func(string) error{"envoy": validateEnvoy, "compose": validateCompose, "k8s": validateK8s}[os.Args[1]]
	if check == nil {
		fmt.Fprintf(os.Stderr, "validate: unknown kind %q (want envoy, compose or k8s)\n", os.Args[1])
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[2:] {
		if err := check(path); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL", err)
			failed = true
			continue
		}
		fmt.Printf("ok %s %s\n", os.Args[1], path)
	}
	if failed {
		os.Exit(1)
	}
}
