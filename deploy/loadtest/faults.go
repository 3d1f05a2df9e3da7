package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fleet runs a deploy/fleet subcommand.
func fleet(o options, args ...string) error {
	cmd := exec.Command(filepath.Join(o.root, "deploy", "fleet"), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("deploy/fleet %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// injectFaults runs the chosen faults one after another while the load
// runs, each at its share of the duration or, when the one before took
// longer, right after it.
func injectFaults(ctx context.Context, o options, l *load, mem *memoryWatch) error {
	sleepUntil := func(frac float64) bool {
		wait := time.Duration(frac*float64(o.duration)) - l.since()
		select {
		case <-ctx.Done():
			return false
		case <-time.After(max(wait, 0)):
			return true
		}
	}
	if o.faults["rolling"] && sleepUntil(0.1) {
		began := l.since()
		for n := 1; n <= 3; n++ {
			if err := fleet(o, "restart-replica", strconv.Itoa(n)); err != nil {
				return err
			}
		}
		fmt.Printf("rolling restart of 3 replicas: %s (from %s)\n", (l.since() - began).Round(100*time.Millisecond), began.Round(time.Second))
	}
	mem.sample("during")
	if o.faults["postgres"] && sleepUntil(0.5) {
		if err := restartPostgres(o, l); err != nil {
			return err
		}
	}
	if o.faults["redis"] && sleepUntil(0.7) {
		began := l.since()
		if err := fleet(o, "redis-stop"); err != nil {
			return err
		}
		time.Sleep(3 * time.Second)
		if err := fleet(o, "redis-start"); err != nil {
			return err
		}
		fmt.Printf("Redis stopped for 3 s (from %s)\n", began.Round(time.Second))
	}
	if o.faults["kill9"] && sleepUntil(0.85) {
		began := l.since()
		if err := fleet(o, "kill-replica", "2"); err != nil {
			return err
		}
		fmt.Printf("kill -9 of replica 2 and its restart: %s (from %s)\n", (l.since() - began).Round(100*time.Millisecond), began.Round(time.Second))
	}
	return nil
}

// restartPostgres stops PostgreSQL for three seconds, then waits for every
// replica to be ready again without restarting any of them.
func restartPostgres(o options, l *load) error {
	versions, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(versions) == 0 {
		return fmt.Errorf("no PostgreSQL cluster in /etc/postgresql: %v", err)
	}
	ctl := func(action string) error {
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", action, "-m", "fast").CombinedOutput()
		if err != nil && action == "start" {
			out, err = exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", action).CombinedOutput()
		}
		if err != nil {
			return fmt.Errorf("pg_ctlcluster %s: %v: %s", action, err, out)
		}
		return nil
	}
	down := l.since()
	if err := ctl("stop"); err != nil {
		return err
	}
	time.Sleep(3 * time.Second)
	if err := ctl("start"); err != nil {
		return err
	}
	up := l.since()
	var wg sync.WaitGroup
	ready := make([]time.Duration, 3)
	for n := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := fmt.Sprintf("http://127.0.0.1:%d/readyz", fleetPort()+n+1)
			for l.since()-up < 30*time.Second {
				if resp, err := http.Get(addr); err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ready[n] = l.since() - up
						return
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			ready[n] = -1
		}()
	}
	wg.Wait()
	// Requests that began while PostgreSQL was down, while the pools
	// reconnected, or before the balancer saw the replicas ready again
	// (two checks a second apart), may be answered 503 with Retry-After.
	l.markOutage(down, l.since()+3*time.Second)
	var parts []string
	for n, d := range ready {
		if d < 0 {
			return fmt.Errorf("replica %d was not ready 30 s after PostgreSQL came back", n+1)
		}
		parts = append(parts, fmt.Sprintf("replica %d %s", n+1, d.Round(100*time.Millisecond)))
	}
	fmt.Printf("PostgreSQL down %s (from %s); ready again after it came back: %s\n", (up - down).Round(100*time.Millisecond), down.Round(time.Second), strings.Join(parts, ", "))
	return nil
}

func fleetPort() int {
	if p, err := strconv.Atoi(os.Getenv("FLEET_PORT")); err == nil {
		return p
	}
	return 8480
}

// memoryWatch samples each replica's resident memory.
type memoryWatch struct {
	root    string
	mu      sync.Mutex
	labels  []string
	samples [][3]int64 // KiB per replica; 0 when not running
}

func newMemoryWatch(root string) *memoryWatch { return &memoryWatch{root: root} }

func (m *memoryWatch) sample(label string) [3]int64 {
	var s [3]int64
	for n := range 3 {
		pid, err := os.ReadFile(filepath.Join(m.root, ".fleet", fmt.Sprintf("replica%d.pid", n+1)))
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				s[n], _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	m.mu.Lock()
	m.labels, m.samples = append(m.labels, label), append(m.samples, s)
	m.mu.Unlock()
	return s
}

func (m *memoryWatch) print() {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Println("memory (RSS, MiB)   replica 1  replica 2  replica 3")
	for i, s := range m.samples {
		fmt.Printf("  %-16s %10.1f %10.1f %10.1f\n", m.labels[i], float64(s[0])/1024, float64(s[1])/1024, float64(s[2])/1024)
	}
}

// soak keeps a lighter load for o.soak and fails when a replica's memory
// grows by more than a fifth (and 20 MiB) between the first minute and the
// end: a leak, not a warm cache.
func soak(ctx context.Context, o options, acct account, mem *memoryWatch) error {
	light := o
	light.connections = max(o.connections/8, 4)
	light.duration = o.soak
	l := newLoad(light, acct)
	runCtx, stop := context.WithTimeout(ctx, o.soak)
	defer stop()
	done := make(chan struct{})
	go func() { l.run(runCtx); close(done) }()
	var first [3]int64
	tick := time.NewTicker(o.soak / 5)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-done:
			last := mem.sample("soak end")
			fmt.Printf("soak: %s at %d connections\n", o.soak, light.connections)
			mem.print()
			if f := l.result().failures(); len(f) > 0 {
				return fmt.Errorf("soak: %s", strings.Join(f, "; "))
			}
			for n := range 3 {
				if first[n] > 0 && last[n] > first[n]+first[n]/5 && last[n]-first[n] > 20*1024 {
					return fmt.Errorf("soak: replica %d grew from %d to %d KiB", n+1, first[n], last[n])
				}
			}
			return nil
		case <-tick.C:
			s := mem.sample(fmt.Sprintf("soak %s", (time.Duration(i) * o.soak / 5).Round(time.Second)))
			if i == 1 {
				first = s
			}
		}
	}
}
