module github.com/fanout-go/fanout

go 1.24

require github.com/coder/websocket v1.8.15

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	go.uber.org/goleak v1.3.0 // indirect
)
