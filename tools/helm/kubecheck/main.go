// Command kubecheck validates Kubernetes manifests, as `helm template` prints
// them, against the API types of k8s.io/api: every document must be a kind
// the API knows, and decode strictly (no unknown or duplicate field, every
// value of its field's type). It stands in for kubeconform, whose schemas
// come from the network at run time.
//
//	helm template deploy/helm/certfleet | kubecheck
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

func main() {
	n, err := check(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubecheck:", err)
		os.Exit(1)
	}
	fmt.Printf("kubecheck: %d objects valid\n", n)
}

// check decodes every YAML document of r strictly and returns how many
// objects it held.
func check(r io.Reader) (int, error) {
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	docs := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var n int
	for {
		doc, err := docs.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read document %d: %w", n+1, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, gvk, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			return n, fmt.Errorf("document %d: %w\n%s", n+1, err, doc)
		}
		if gvk.Kind == "" || obj == nil {
			return n, fmt.Errorf("document %d: no kind\n%s", n+1, doc)
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no objects")
	}
	return n, nil
}

// stripComments drops whole-line comments, such as helm's "# Source:" lines,
// so that a document of comments only is seen as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}
