package main

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseCapUnits(t *testing.T) {
	u, err := parseCapUnits("del=2.5, pub=30,recv=7,idle=1000,noderss=1e7,subrss=8192,redispub=40,redisrcv=1,msgmem=300,submem=200,pairmem=300,paircpu=1,wire=100")
	if err != nil {
		t.Fatal(err)
	}
	want := capUnits{DelCPU: 2.5, PubCPU: 30, RecvCPU: 7, IdleCPU: 1000, NodeRSS: 1e7, SubRSS: 8192,
		RedisPub: 40, RedisRecv: 1, MsgMem: 300, SubMem: 200, PairMem: 300, PairCPU: 1, WireDel: 100}
	if u != want {
		t.Errorf("parsed %+v, want %+v", u, want)
	}
	for _, bad := range []string{"del", "nope=1", "del=x"} {
		if _, err := parseCapUnits(bad); err == nil {
			t.Errorf("parseCapUnits(%q) accepted", bad)
		}
	}
}

// TestPredict checks the model's arithmetic on numbers worked by hand.
func TestPredict(t *testing.T) {
	u := capUnits{DelCPU: 2, PubCPU: 30, RecvCPU: 5, IdleCPU: 1000, NodeRSS: 20e6, SubRSS: 10e3,
		RedisPub: 40, RedisRecv: 1, MsgMem: 300, SubMem: 100, PairMem: 250, PairCPU: 1, WireDel: 100}
	w := capWorkload{Nodes: 10, Subs: 100000, PubRate: 1000, Fanout: 10, Receivers: 4, ExtraReceivers: 2, Kept: 5000, Pairs: 20000}
	got := u.predict(w)
	// 1000/s × (10×2 + 30 + 4×5) µs = 70,000 µs/s, plus 10 × 1000 µs/s idle.
	wantTerms := [4]float64{0.02, 0.03, 0.02, 0.01}
	for i, v := range wantTerms {
		if math.Abs(got.NodeCPUTerm[i]-v) > 1e-12 {
			t.Errorf("term %s = %v, want %v", capTermNames[i], got.NodeCPUTerm[i], v)
		}
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"NodeCPU", got.NodeCPU, 0.08},
		{"NodeRSS", got.NodeRSS, 10*20e6 + 100000*10e3},
		{"RedisCPU", got.RedisCPU, (1000*(40+2*1) + 20000*1) / 1e6},
		{"RedisMem", got.RedisMem, 5000*300 + 100000*100 + 20000*250},
		{"Wire", got.Wire, 1000 * 10 * 100},
	} {
		if math.Abs(c.got-c.want) > 1e-9*math.Max(1, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, c := range []struct {
		m, p float64
		want bool
	}{{1.19, 1, true}, {0.81, 1, true}, {1.21, 1, false}, {0.79, 1, false}, {0, 0, true}, {1, 0, false}} {
		if got := within(c.m, c.p, 0.2); got != c.want {
			t.Errorf("within(%v, %v) = %v", c.m, c.p, got)
		}
	}
}

// TestCapacityRun runs -capacity run tiny on a real redis-server: every
// message is delivered, the logs' entries grow by the messages
// published, the clients read more than the payload per delivery, and
// the model's table is printed.
func TestCapacityRun(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is required under CI: %v", err)
		}
		t.Skipf("redis-server not installed: %v", err)
	}
	var out, errOut bytes.Buffer
	args := []string{"-capacity", "run", "-nodes", "3", "-subs", "12", "-topics", "6", "-msgs", "60", "-burst", "3", "-tick", "2ms",
		"-publishers", "4", "-repeats", "1", "-nodes-idle", "10ms", "-capacity-units", "del=2,pub=30,recv=5,subrss=8000,msgmem=300,wire=100"}
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	t.Log("\n" + text)
	if strings.Contains(text, "note:") {
		t.Errorf("the run reported a problem")
	}
	if !strings.Contains(text, "delivered 120 of 120 (2.00 per message") {
		t.Errorf("want 120 of 120 delivered, 2 per message (12 subscribers of 6 topics)")
	}
	m := regexp.MustCompile(`log entries (\d+) subscribed, (\d+) after`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no log entries line")
	}
	before, _ := strconv.Atoi(m[1])
	after, _ := strconv.Atoi(m[2])
	if after-before != 60 {
		t.Errorf("the logs grew by %d entries, want the 60 published", after-before)
	}
	w := regexp.MustCompile(`clients read ([0-9.]+) per delivery`).FindStringSubmatch(text)
	if w == nil {
		t.Fatal("no bytes line")
	}
	if v, _ := strconv.ParseFloat(w[1], 64); v < 64 {
		t.Errorf("clients read %v bytes per delivery, less than the 64-byte payload", v)
	}
	for _, want := range []string{"model vs run", "serving nodes' CPU", "pmembers", "log 1 keys"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in the output", want)
		}
	}
}
