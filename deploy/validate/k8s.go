package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// k8sKinds are the kinds the manifests may use, each with its k8s.io/api type. Add a
// kind here to use it; one missing from the table fails rather than going unchecked.
var k8sKinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
}

// validateK8s builds the kustomization in dir with kustomize's own builder (krusty, as
// `kubectl apply -k` does: an unknown kustomization field or a missing file fails), then
// decodes every resource it produces strictly into its k8s.io/api type, so a misspelt
// field, a value of the wrong type or an unknown kind fails. Last it checks what the API
// server or the kubelet would only find out later: selectors that select nothing,
// references to missing objects, ports and keys, and grace periods shorter than the
// container's own drain (AITEXT_GRACE_SECONDS).
//
// The secretGenerator's key files are not committed: a file missing on disk is read from
// its ".example" beside it.
func validateK8s(dir string) error {
	fsys, err := loadDir(dir)
	if err != nil {
		return err
	}
	return validateK8sFS(fsys, dir)
}

// loadDir copies dir into an in-memory file system at the same absolute path.
func loadDir(dir string) (filesys.FileSystem, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	mem := filesys.MakeFsInMemory()
	err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := mem.WriteFile(path, content); err != nil {
			return err
		}
		if real, ok := strings.CutSuffix(path, ".example"); ok && !exists(real) {
			return mem.WriteFile(real, content)
		}
		return nil
	})
	return mem, err
}

type k8sObject struct {
	where string // Kind/name
	obj   any
}

func validateK8sFS(fsys filesys.FileSystem, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, abs)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	var problems []error
	var objects []k8sObject
	for _, res := range resources.Resources() {
		where := res.GetKind() + "/" + res.GetName()
		kind := res.GetApiVersion() + "/" + res.GetKind()
		newObject, ok := k8sKinds[kind]
		if !ok {
			problems = append(problems, fmt.Errorf("%s: kind %s is not one deploy/validate knows (k8s.go)", where, kind))
			continue
		}
		raw, err := res.AsYAML()
		if err != nil {
			return err
		}
		obj := newObject()
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		}
		objects = append(objects, k8sObject{where, obj})
	}
	if len(problems) == 0 {
		problems = checkReferences(objects)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", dir, errors.Join(problems...))
	}
	return nil
}

type workload struct {
	where    string
	selector *metav1.LabelSelector
	pod      *corev1.PodTemplateSpec
}

// checkReferences checks the objects against each other.
func checkReferences(objects []k8sObject) []error {
	var problems []error
	fail := func(where, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: "+format, append([]any{where}, args...)...))
	}
	workloads := map[string]workload{}
	secrets := map[string]*corev1.Secret{}
	for _, o := range objects {
		switch obj := o.obj.(type) {
		case *appsv1.Deployment:
			workloads["Deployment/"+obj.Name] = workload{o.where, obj.Spec.Selector, &obj.Spec.Template}
		case *appsv1.StatefulSet:
			workloads["StatefulSet/"+obj.Name] = workload{o.where, obj.Spec.Selector, &obj.Spec.Template}
		case *corev1.Secret:
			secrets[obj.Name] = obj
		}
	}
	selects := func(selector *metav1.LabelSelector) []workload {
		s, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil || selector == nil || s.Empty() {
			return nil
		}
		var found []workload
		for _, w := range workloads {
			if s.Matches(labels.Set(w.pod.Labels)) {
				found = append(found, w)
			}
		}
		return found
	}
	for _, w := range workloads {
		if s, err := metav1.LabelSelectorAsSelector(w.selector); err != nil || s.Empty() || !s.Matches(labels.Set(w.pod.Labels)) {
			fail(w.where, "the selector does not match the pod template's labels")
		}
		problems = append(problems, checkPod(w.where, &w.pod.Spec, secrets)...)
	}
	for _, o := range objects {
		switch obj := o.obj.(type) {
		case *corev1.Service:
			selected := selects(&metav1.LabelSelector{MatchLabels: obj.Spec.Selector})
			if len(selected) == 0 {
				fail(o.where, "the selector matches no workload's pods")
			}
			for _, port := range obj.Spec.Ports {
				if name := port.TargetPort.StrVal; name != "" {
					for _, w := range selected {
						if !hasPort(&w.pod.Spec, name) {
							fail(o.where, "targetPort %q is not a container port of %s", name, w.where)
						}
					}
				}
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			if _, ok := workloads[obj.Spec.ScaleTargetRef.Kind+"/"+obj.Spec.ScaleTargetRef.Name]; !ok {
				fail(o.where, "scaleTargetRef %s/%s is not in the manifests", obj.Spec.ScaleTargetRef.Kind, obj.Spec.ScaleTargetRef.Name)
			}
		case *policyv1.PodDisruptionBudget:
			if len(selects(obj.Spec.Selector)) == 0 {
				fail(o.where, "the selector matches no workload's pods")
			}
		}
	}
	return problems
}

// checkPod checks a pod template: secrets and their keys exist, probes name real ports,
// and the grace period covers the preStop sleep and the container's own drain.
func checkPod(where string, pod *corev1.PodSpec, secrets map[string]*corev1.Secret) []error {
	var problems []error
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: "+format, append([]any{where}, args...)...))
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil && secrets[v.Secret.SecretName] == nil {
			fail("volume %s: secret %q is not in the manifests", v.Name, v.Secret.SecretName)
		}
	}
	grace := int64(30)
	if pod.TerminationGracePeriodSeconds != nil {
		grace = *pod.TerminationGracePeriodSeconds
	}
	for _, c := range pod.Containers {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
				s := secrets[ref.SecretKeyRef.Name]
				if s == nil {
					fail("env %s: secret %q is not in the manifests", e.Name, ref.SecretKeyRef.Name)
				} else if _, ok := s.Data[ref.SecretKeyRef.Key]; !ok {
					if _, ok := s.StringData[ref.SecretKeyRef.Key]; !ok {
						fail("env %s: secret %q has no key %q", e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
					}
				}
			}
			if e.Name == "AITEXT_GRACE_SECONDS" {
				drain, err := strconv.ParseFloat(e.Value, 64)
				if err != nil {
					fail("AITEXT_GRACE_SECONDS %q is not a number", e.Value)
					continue
				}
				var sleep int64
				if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
					sleep = c.Lifecycle.PreStop.Sleep.Seconds
				}
				// The supervisor waits AITEXT_GRACE_SECONDS + 5 s for its workers.
				if need := float64(sleep) + drain + 5; float64(grace) < need {
					fail("terminationGracePeriodSeconds %d is shorter than the preStop sleep (%d s) + AITEXT_GRACE_SECONDS (%s) + 5 s = %.0f s",
						grace, sleep, e.Value, need)
				}
			}
		}
		for name, probe := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
			if probe == nil {
				continue
			}
			switch {
			case probe.GRPC != nil && !hasPortNumber(&c, probe.GRPC.Port):
				fail("container %s: %s: gRPC port %d is not a container port", c.Name, name, probe.GRPC.Port)
			case probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" && !hasPort(pod, probe.HTTPGet.Port.StrVal):
				fail("container %s: %s: port %q is not a container port", c.Name, name, probe.HTTPGet.Port.StrVal)
			case probe.TCPSocket != nil && probe.TCPSocket.Port.StrVal != "" && !hasPort(pod, probe.TCPSocket.Port.StrVal):
				fail("container %s: %s: port %q is not a container port", c.Name, name, probe.TCPSocket.Port.StrVal)
			}
		}
	}
	return problems
}

func hasPort(pod *corev1.PodSpec, name string) bool {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func hasPortNumber(c *corev1.Container, number int32) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == number {
			return true
		}
	}
	return false
}
