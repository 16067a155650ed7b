module github.com/fanout-go/fanout/redis

go 1.26

replace github.com/fanout-go/fanout => ../
