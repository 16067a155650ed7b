module github.com/fanout-go/fanout/bolt

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/fanout-go/fanout v0.1.0
	github.com/tmaxmax/go-sse v0.12.0
	go.etcd.io/bbolt v1.5.0
	go.uber.org/goleak v1.3.0
)

require (
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/time v0.16.0 // indirect
)
