package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const composeFile = "../../docker-compose.yml"

func TestComposeFileIsValid(t *testing.T) {
	if err := validateCompose(composeFile); err != nil {
		t.Fatal(err)
	}
}

func TestBrokenComposeFilesFail(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	path, err := filepath.Abs(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"misspelt service key", "    image: aitext-server:local", "    imagee: aitext-server:local", "imagee"},
		{"wrong type", "      replicas: 2", "      replicas: two", "replicas"},
		{"unknown dependency", "      redis:\n        condition: service_healthy", "      rediss:\n        condition: service_healthy", "rediss"},
		{"unknown depends_on condition", "condition: service_healthy", "condition: service_ready", "condition"},
		{"undefined volume", "      - redis-data:/data", "      - redis-date:/data", "redis-date"},
		{"waits on a service without healthcheck", "      test: [\"CMD\", \"redis-cli\", \"ping\"]\n      interval: 5s\n      timeout: 3s\n      retries: 5\n", "      disable: true\n", "no healthcheck"},
		{"missing Dockerfile", "dockerfile: deploy/server.Dockerfile", "dockerfile: deploy/srv.Dockerfile", "does not exist"},
		{"missing bind mount", "./deploy/envoy:/etc/envoy:ro", "./deploy/envoi:/etc/envoy:ro", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(string(raw), tc.old) {
				t.Fatalf("docker-compose.yml has no %q", tc.old)
			}
			broken := strings.Replace(string(raw), tc.old, tc.new, 1)
			err := validateComposeContent(path, []byte(broken))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestDockerfileCopyOfAMissingFileFails(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "present.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dockerfile := filepath.Join(dir, "Dockerfile")
	content := "FROM scratch AS a\nCOPY present.txt /\nCOPY --from=a /x /y\nCOPY --chown=1:1 present.txt \\\n    absent.txt /dst/\n"
	if err := os.WriteFile(dockerfile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkCopySources(dockerfile, dir)
	if err == nil || !strings.Contains(err.Error(), "absent.txt") {
		t.Errorf("want an error naming absent.txt, got %v", err)
	}
}

func TestRealDockerfilesCopyExistingFiles(t *testing.T) {
	for _, name := range []string{"server", "frontend", "gateway"} {
		if err := checkCopySources(filepath.Join("..", name+".Dockerfile"), "../.."); err != nil {
			t.Error(err)
		}
	}
}
