package fanout_test

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedMethods are what a Hub and a Broker both offer, over the core they
// share: declared once, on the type both embed.
var sharedMethods = []string{
	"Publish", "Broadcast", "BroadcastFilter", "Subscribers", "Len",
	"NumSubscribers", "TopicSubscribers", "Topics", "Presence", "Stats",
	"EngineMetrics", "Shutdown", "Close",
}

// TestDoc_SharedMethods: the documentation (go doc, pkgsite: both read it
// with go/doc) lists each shared method under Hub and under Broker, with
// one doc comment, from one declaration.
func TestDoc_SharedMethods(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		require.NoError(t, err)
		if f.Name.Name == "fanout" {
			files = append(files, f)
		}
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/fanout-go/fanout")
	require.NoError(t, err)
	methods := func(typ string) map[string]*doc.Func {
		for _, ty := range p.Types {
			if ty.Name == typ {
				m := make(map[string]*doc.Func)
				for _, f := range ty.Methods {
					m[f.Name] = f
				}
				return m
			}
		}
		t.Fatalf("no type %s", typ)
		return nil
	}
	hub, broker := methods("Hub"), methods("Broker")
	for _, name := range sharedMethods {
		h, b := hub[name], broker[name]
		if !assert.NotNil(t, h, "Hub.%s", name) || !assert.NotNil(t, b, "Broker.%s", name) {
			continue
		}
		assert.NotEmpty(t, h.Doc, "%s is documented", name)
		assert.Equal(t, h.Orig, b.Orig, "%s: one declaration", name)
		assert.Equal(t, h.Doc, b.Doc, "%s: one doc comment", name)
	}
}
