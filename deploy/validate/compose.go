package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// validateCompose loads a compose file with compose-go, the loader of `docker
// compose` itself: the file is checked against the Compose Specification's JSON
// schema and for consistency (unknown services in depends_on, undefined volumes or
// networks, ...). Then it checks what `docker compose up` would only find out at
// run time: build contexts, Dockerfiles and bind-mounted files exist, every
// service has a healthcheck, and service_healthy waits on services that have one.
func validateCompose(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	content, err := os.ReadFile(abs)
	if err != nil {
		return err
	}
	return validateComposeContent(abs, content)
}

// validateComposeContent checks content as if it were the compose file at path.
func validateComposeContent(path string, content []byte) error {
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  filepath.Dir(path),
		ConfigFiles: []types.ConfigFile{{Filename: path, Content: content}},
		Environment: requiredVariables(content),
	}, func(o *loader.Options) {
		o.SetProjectName("aitext", true)
		o.ResolvePaths = true
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var problems []error
	names := project.ServiceNames()
	sort.Strings(names)
	for _, name := range names {
		svc := project.Services[name]
		if svc.Build != nil {
			if !exists(svc.Build.Context) {
				problems = append(problems, fmt.Errorf("service %s: build context %s does not exist", name, svc.Build.Context))
			} else if df := dockerfilePath(svc.Build); !exists(df) {
				problems = append(problems, fmt.Errorf("service %s: dockerfile %s does not exist", name, df))
			} else if err := checkCopySources(df, svc.Build.Context); err != nil {
				problems = append(problems, fmt.Errorf("service %s: %w", name, err))
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && !exists(v.Source) {
				problems = append(problems, fmt.Errorf("service %s: bind mount source %s does not exist", name, v.Source))
			}
		}
		if svc.HealthCheck == nil || svc.HealthCheck.Disable {
			problems = append(problems, fmt.Errorf("service %s: no healthcheck", name))
		}
		for dep, cond := range svc.DependsOn {
			if target, ok := project.Services[dep]; ok && cond.Condition == types.ServiceConditionHealthy &&
				(target.HealthCheck == nil || target.HealthCheck.Disable) {
				problems = append(problems, fmt.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", path, errors.Join(problems...))
	}
	return nil
}

// requiredVariables gives each ${NAME:?message} or ${NAME?message} of the file a
// placeholder value: the check is of the file's structure, not of one host's environment.
func requiredVariables(content []byte) types.Mapping {
	env := types.Mapping{}
	for _, m := range requiredVariable.FindAllSubmatch(content, -1) {
		env[string(m[1])] = "placeholder"
	}
	return env
}

var requiredVariable = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):?\?`)

func dockerfilePath(build *types.BuildConfig) string {
	df := build.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if filepath.IsAbs(df) {
		return df
	}
	return filepath.Join(build.Context, df)
}

// checkCopySources checks that the sources of the Dockerfile's COPY and ADD
// instructions from the build context (not --from another stage) exist there.
func checkCopySources(dockerfile, context string) error {
	raw, err := os.ReadFile(dockerfile)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(raw), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 3 || !(strings.EqualFold(fields[0], "COPY") || strings.EqualFold(fields[0], "ADD")) {
			continue
		}
		args := fields[1:]
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			if strings.HasPrefix(args[0], "--from=") {
				args = nil
				break
			}
			args = args[1:]
		}
		if len(args) < 2 {
			continue
		}
		for _, src := range args[:len(args)-1] {
			matches, err := filepath.Glob(filepath.Join(context, src))
			if err != nil || len(matches) == 0 {
				return fmt.Errorf("%s: %s %s: no such file in the build context", dockerfile, fields[0], src)
			}
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
