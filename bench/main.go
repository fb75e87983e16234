// Command bench answers the two questions people ask of an access-token
// service — how close is it to what the hardware allows, and does it stay
// fast when the organization is large — with one command:
//
//	go run ./bench                 # every group, writes BENCHMARKS.md
//	go run ./bench -short          # a smoke run (small sizes, short durations)
//	go run ./bench -only http      # one group: create, http, ssh, rss, revoke, scale
//
// Every figure is set beside a baseline measured in the same run on the same
// machine (a bare bbolt Update, a bare net/http handler, a bare wish + Bubble
// Tea "hello", ...), because absolute numbers from another machine say little
// while ratios travel. The result is one Markdown table, printed and written to
// -out with the machine, the mode and a note on every row that misses its
// target.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// config is what the flags asked for.
type config struct {
	only        string
	duration    time.Duration
	concurrency int
	short       bool
	out         string
	cpuprofile  string
	httpCase    string // one case of the http group ("exchange" or "me"), for a profile of it alone
	sessions    int    // idle consoles held open for the rss group
	scaleUsers  int
	scaleTokens int           // per user
	sshRounds   int           // connect → first frame samples per server
	nRounds     int           // alternating baseline/keydesk rounds in the throughput groups
	rssRounds   int           // alternating keydesk/hello servers in the rss group
	settle      time.Duration // idle time before a loaded server's memory is read
	cacheDir    string
	repoRoot    string
}

// groups run in this order; -only picks one.
var groups = []struct {
	name string
	run  func(*config, *report) error
}{
	{"create", benchCreate},
	{"http", benchHTTP},
	{"ssh", benchSSH},
	{"rss", benchRSS},
	{"revoke", benchRevoke},
	{"scale", benchScale},
	{"etcd", benchEtcd},
}

func main() {
	// The rss group re-runs this binary as a bare wish "hello" server, so
	// that its memory is measured in a process of its own, like keydesk's.
	if len(os.Args) > 1 && os.Args[1] == helloServerArg {
		if err := runHelloServer(); err != nil {
			fmt.Fprintln(os.Stderr, "hello server:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run())
}

func run() int {
	cfg := &config{}
	var names []string
	for _, g := range groups {
		names = append(names, g.name)
	}
	flag.StringVar(&cfg.only, "only", "", "run one group: "+strings.Join(names, ", "))
	flag.DurationVar(&cfg.duration, "duration", 0, "how long each throughput measurement runs (default 3s, -short 300ms)")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "concurrent HTTP clients (the same for keydesk and the baseline)")
	flag.BoolVar(&cfg.short, "short", false, "quick smoke run: small organization, short durations, 50 sessions (numbers are not meaningful)")
	flag.StringVar(&cfg.out, "out", "", "write the report here (default BENCHMARKS.md at the repository root)")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run (of this process; servers run as subprocesses are not in it; in the http group each server's goroutines and its load carry the pprof label server=keydesk or server=bare)")
	flag.StringVar(&cfg.httpCase, "http-case", "", "run only this case of the http group: exchange or me (to profile one case alone)")
	flag.IntVar(&cfg.sessions, "sessions", 0, "idle console sessions held open for the rss group (default 1000, -short 50)")
	flag.IntVar(&cfg.scaleUsers, "scale-users", 0, "people in the scale organization (default 100000, -short 2000)")
	flag.IntVar(&cfg.scaleTokens, "scale-tokens", 10, "tokens per person in the scale organization")
	flag.IntVar(&cfg.nRounds, "rounds", 0, "alternating baseline/keydesk rounds that share -duration in the create and http groups (default 10, -short 4)")
	flag.IntVar(&cfg.rssRounds, "rss-rounds", 0, "alternating keydesk/hello servers in the rss group (default 3, -short 1)")
	flag.DurationVar(&cfg.settle, "settle", 0, "how long sessions sit idle before a server's memory is read (default 12s, -short 1s)")
	flag.StringVar(&prebuilt, "keydesk", "", "run this keydesk binary as the server subprocess instead of building one from the tree (for before/after comparisons)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "bench: unexpected arguments:", flag.Args())
		return 2
	}
	if cfg.only != "" && !slices.Contains(names, cfg.only) {
		fmt.Fprintf(os.Stderr, "bench: unknown group %q (one of %s)\n", cfg.only, strings.Join(names, ", "))
		return 2
	}
	if cfg.httpCase != "" && cfg.httpCase != "exchange" && cfg.httpCase != "me" {
		fmt.Fprintf(os.Stderr, "bench: unknown -http-case %q (exchange or me)\n", cfg.httpCase)
		return 2
	}
	cfg.defaults()
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	cfg.repoRoot = root
	cfg.cacheDir = filepath.Join(root, "bench", ".cache")
	if cfg.out == "" {
		cfg.out = filepath.Join(root, "BENCHMARKS.md")
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	rep := &report{start: time.Now(), cfg: cfg}
	failed := false
	for _, g := range groups {
		if cfg.only != "" && g.name != cfg.only {
			continue
		}
		t0 := time.Now()
		logf("== %s", g.name)
		if err := g.run(cfg, rep); err != nil {
			// One broken group must not hide the others' figures.
			failed = true
			logf("%s: %v", g.name, err)
			rep.note("**%s failed**: %v", g.name, err)
		}
		logf("   %s took %v", g.name, time.Since(t0).Round(100*time.Millisecond))
	}
	rep.elapsed = time.Since(rep.start)
	md := rep.markdown()
	fmt.Println(rep.table())
	if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	logf("wrote %s in %v", cfg.out, rep.elapsed.Round(time.Second))
	if failed {
		return 1
	}
	return 0
}

func (c *config) defaults() {
	pick := func(v *int, full, short int) {
		if *v <= 0 {
			*v = full
			if c.short {
				*v = short
			}
		}
	}
	if c.duration <= 0 {
		c.duration = 3 * time.Second
		if c.short {
			c.duration = 300 * time.Millisecond
		}
	}
	if c.settle <= 0 {
		c.settle = 12 * time.Second
		if c.short {
			c.settle = time.Second
		}
	}
	if c.concurrency <= 0 {
		c.concurrency = 16
	}
	pick(&c.sessions, 1000, 50)
	pick(&c.scaleUsers, 100_000, 2_000)
	pick(&c.scaleTokens, 10, 10)
	pick(&c.sshRounds, 40, 10)
	pick(&c.nRounds, 10, 4)
	pick(&c.rssRounds, 3, 1)
}

// rounds is how many alternating rounds a throughput comparison runs.
func (c *config) rounds() int { return c.nRounds }

func (c *config) mode() string {
	if c.short {
		return "short (smoke run; numbers not meaningful)"
	}
	return "full"
}

// repoRoot finds the module root from the working directory, so the harness
// writes BENCHMARKS.md and builds keydesk from the right place wherever
// `go run ./bench` is started within the repository.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/keydesk/keydesk\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("run from inside the keydesk repository (no go.mod of github.com/keydesk/keydesk above %s)", dir)
		}
	}
}

// logf reports progress on stderr; the table goes to stdout.
func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs (runtime.NumCPU), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel())
}

// cpuModel names the processor from /proc/cpuinfo where there is one.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
