package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	transcoderv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_json_transcoder/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

// validateEnvoy loads an Envoy bootstrap YAML the way Envoy does (proto3 JSON into
// envoy.config.bootstrap.v3.Bootstrap, typed_config Any values resolved), so an
// unknown field or @type fails; then runs the protoc-gen-validate rules of every
// message, including those inside Any, and rejects deprecated fields. Descriptor
// sets named by grpc_json_transcoder are looked up next to the YAML file by base
// name and must define the listed services.
func validateEnvoy(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var bootstrap bootstrapv3.Bootstrap
	if err := protojson.Unmarshal(js, &bootstrap); err != nil {
		if strings.Contains(err.Error(), "unable to resolve") {
			return fmt.Errorf("%s: %w (misspelt, or an extension whose package types.go does not import)", path, err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	var problems []error
	walk(bootstrap.ProtoReflect(), "", func(at string, m protoreflect.Message) {
		// ValidateAll covers nested messages but not the contents of an Any.
		if v, ok := m.Interface().(interface{ ValidateAll() error }); ok && (at == "" || isAnyContent(at)) {
			if err := v.ValidateAll(); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", orRoot(at), err))
			}
		}
		m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			if opts, ok := fd.Options().(*descriptorpb.FieldOptions); ok && opts.GetDeprecated() {
				problems = append(problems, fmt.Errorf("%s.%s: deprecated field", orRoot(at), fd.Name()))
			}
			return true
		})
		if t, ok := m.Interface().(*transcoderv3.GrpcJsonTranscoder); ok {
			if err := checkDescriptorSet(filepath.Dir(path), t); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", at, err))
			}
		}
	})
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", path, errors.Join(problems...))
	}
	return nil
}

func orRoot(at string) string {
	if at == "" {
		return "bootstrap"
	}
	return at
}

// isAnyContent tells whether the message at this path is the content of an Any,
// which the enclosing message's ValidateAll does not look into.
func isAnyContent(at string) bool { return strings.HasSuffix(at, ")") }

// walk calls fn on m and every message below it, unpacking Any values.
func walk(m protoreflect.Message, at string, fn func(string, protoreflect.Message)) {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err == nil {
			walk(inner.ProtoReflect(), at+"("+string(inner.ProtoReflect().Descriptor().FullName())+")", fn)
		}
		return
	}
	fn(at, m)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := at + "." + string(fd.Name())
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				walk(mv.Message(), fmt.Sprintf("%s[%v]", name, k.Interface()), fn)
				return true
			})
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				walk(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), fn)
			}
		case fd.Message() != nil && !fd.IsMap() && !fd.IsList():
			walk(v.Message(), name, fn)
		}
		return true
	})
}

func checkDescriptorSet(dir string, t *transcoderv3.GrpcJsonTranscoder) error {
	name := t.GetProtoDescriptor()
	if name == "" {
		return nil // inline proto_descriptor_bin
	}
	raw, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
	if err != nil {
		return fmt.Errorf("proto_descriptor %s: %w", name, err)
	}
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("proto_descriptor %s: %w", name, err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return fmt.Errorf("proto_descriptor %s: %w", name, err)
	}
	for _, svc := range t.GetServices() {
		if d, err := files.FindDescriptorByName(protoreflect.FullName(svc)); err != nil {
			return fmt.Errorf("service %s is not in %s", svc, name)
		} else if _, ok := d.(protoreflect.ServiceDescriptor); !ok {
			return fmt.Errorf("%s in %s is not a service", svc, name)
		}
	}
	return nil
}
