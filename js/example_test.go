package js_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/fanout-go/fanout/js"
)

// A Go server serves the client to its pages beside its Hub, with no npm
// step; a page imports it from "/fanout.js".
func Example() {
	mux := http.NewServeMux()
	mux.Handle("GET /fanout.js", js.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/fanout.js")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Header.Get("Content-Type"))
	fmt.Println(strings.Contains(string(body), "export function subscribe("))
	// Output:
	// text/javascript; charset=utf-8
	// true
}
