package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const envoyYAML = "../envoy/envoy.yaml"

func TestEnvoyConfigIsValid(t *testing.T) {
	if err := validateEnvoy(envoyYAML); err != nil {
		t.Fatal(err)
	}
}

// brokenEnvoy writes envoy.yaml with one edit, next to a copy of its descriptor set.
func brokenEnvoy(t *testing.T, old, replacement string) string {
	t.Helper()
	raw, err := os.ReadFile(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), old) {
		t.Fatalf("envoy.yaml has no %q", old)
	}
	dir := t.TempDir()
	desc, err := os.ReadFile("../envoy/aitext.pb")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "aitext.pb"), desc, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "envoy.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(raw), old, replacement, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEnvoyConfigErrorsFail(t *testing.T) {
	for _, tc := range []struct{ name, old, new, want string }{
		{"misspelt field", "stat_prefix: ingress_http", "stat_prefx: ingress_http", `unknown field "stat_prefx"`},
		{"misspelt field inside a typed_config", "rate_limited_as_resource_exhausted:", "rate_limited_as_resource_exhaustd:", "unknown field"},
		{"misspelt @type", "grpc_web.v3.GrpcWeb\n", "grpc_web.v3.GrpcWbe\n", "unable to resolve"},
		{"bad enum value", "denominator: HUNDRED", "denominator: HUNDRD", "invalid value for enum"},
		{"port out of range", "port_value: 50051", "port_value: 99999", "PortValue"},
		{"rule inside a typed_config", "tokens_per_fill: 100", "tokens_per_fill: 0", "TokensPerFill"},
		{"service not in the descriptor set", "[aitext.v1.TextService]", "[aitext.v1.TextServic]", "not in"},
		{"deprecated field", "codec_type: AUTO", "codec_type: AUTO\n                idle_timeout: 60s", "deprecated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateEnvoy(brokenEnvoy(t, tc.old, tc.new))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
