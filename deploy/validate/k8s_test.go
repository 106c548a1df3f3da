package main

import (
	"path/filepath"
	"strings"
	"testing"
)

const k8sDir = "../k8s"

func TestK8sManifestsAreValid(t *testing.T) {
	if err := validateK8s(k8sDir); err != nil {
		t.Fatal(err)
	}
}

func TestBrokenK8sManifestsFail(t *testing.T) {
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"misspelt field", "server.yaml", "      terminationGracePeriodSeconds: 75", "      terminationGracePeriodSecond: 75", `unknown field "terminationGracePeriodSecond"`},
		{"misspelt probe field", "server.yaml", "              service: aitext.v1.TextService", "              servce: aitext.v1.TextService", "servce"},
		{"wrong type", "gateway.yaml", "  replicas: 2", "  replicas: two", "replicas"},
		{"misspelt kustomization field", "kustomization.yaml", "resources:", "resource:", "resource"},
		{"missing resource file", "kustomization.yaml", "  - redis.yaml", "  - rediss.yaml", "rediss.yaml"},
		{"unknown kind", "namespace.yaml", "kind: Namespace", "kind: Namespaces", "Namespaces"},
		{"grace shorter than the drain", "server.yaml", "              value: \"60\"", "              value: \"90\"", "terminationGracePeriodSeconds 75 is shorter"},
		{"selector misses the pods", "frontend.yaml", "      app.kubernetes.io/name: aitext-frontend\n  template", "      app.kubernetes.io/name: aitext-ui\n  template", "does not match the pod template"},
		{"service selects nothing", "redis.yaml", "  clusterIP: None\n  selector:\n    app.kubernetes.io/name: aitext-redis", "  clusterIP: None\n  selector:\n    app.kubernetes.io/name: redis", "matches no workload"},
		{"missing secret key", "frontend.yaml", "key: api-key", "key: apikey", `no key "apikey"`},
		{"unknown target port", "gateway.yaml", "      targetPort: http", "      targetPort: web", `targetPort "web"`},
		{"autoscaler target missing", "server.yaml", "    kind: Deployment\n    name: aitext-server", "    kind: Deployment\n    name: aitext-srv", "scaleTargetRef"},
		{"probe on a port not served", "server.yaml", "            grpc:\n              port: 50051\n            periodSeconds: 10", "            grpc:\n              port: 50052\n            periodSeconds: 10", "gRPC port 50052"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := loadDir(k8sDir)
			if err != nil {
				t.Fatal(err)
			}
			path, err := filepath.Abs(filepath.Join(k8sDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := fsys.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), tc.old) {
				t.Fatalf("%s has no %q", tc.file, tc.old)
			}
			if err := fsys.WriteFile(path, []byte(strings.Replace(string(raw), tc.old, tc.new, 1))); err != nil {
				t.Fatal(err)
			}
			err = validateK8sFS(fsys, k8sDir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
