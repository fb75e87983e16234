package tui

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
)

// Benchmark scale (issue 3): 100k users and 1M tokens. KEYDESK_BENCH_SCALE
// divides both for a quick run, e.g. 10 for 10k users and 100k tokens.
var (
	benchUsers  = 100_000
	benchTokens = 1_000_000
)

type bigOrg struct {
	s     *store.Store
	owner models.User
	dir   string
	err   error
}

var (
	bigOnce sync.Once
	big     bigOrg
)

var firstNames = []string{"Ada", "Alan", "Grace", "Maya", "Diego", "Priya", "Tom", "Sara", "Victor", "Lena",
	"Omar", "Yuki", "Noah", "Ines", "Kofi", "Mila", "Ravi", "Zoe", "Igor", "Nina"}
var lastNames = []string{"Park", "Moreau", "Okafor", "Chen", "Ramos", "Nair", "Becker", "Holm", "Stone", "Ito",
	"Silva", "Novak", "Khan", "Berg", "Costa", "Dubois", "Meyer", "Rossi", "Sato", "Weber"}

// bigStore builds the benchmark organization once per process, through the
// store's exported API only: one CSV import for the people, then
// AssignTokens in transactions of 10,000 holders (each token costs its real
// crypto: random secret, HMAC digest, sealed copy, audit entry).
func bigStore(b *testing.B) bigOrg {
	bigOnce.Do(func() {
		if f := os.Getenv("KEYDESK_BENCH_SCALE"); f != "" {
			var d int
			fmt.Sscan(f, &d)
			if d > 1 {
				benchUsers, benchTokens = benchUsers/d, benchTokens/d
			}
		}
		start := time.Now()
		dir, err := os.MkdirTemp("", "keydesk-bench-")
		if err != nil {
			big.err = err
			return
		}
		big.dir = dir
		s, err := store.Open(dir, store.Options{})
		if err != nil {
			big.err = err
			return
		}
		big.s = s
		owner, err := s.Init(store.NewUser{Name: "Bench Owner", Email: "owner@bench.example"}, "bench")
		if err != nil {
			big.err = err
			return
		}
		big.owner = owner
		a := store.Actor{UserID: owner.ID, Via: "bench"}
		var csv strings.Builder
		for i := 0; i < benchUsers; i++ {
			role := "user"
			if i%10 == 0 {
				role = "admin"
			}
			fmt.Fprintf(&csv, "%s %s %d,u%d@bench.example,%s\n", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)], i, i, role)
		}
		if _, err := s.ImportUsers(a, strings.NewReader(csv.String())); err != nil {
			big.err = err
			return
		}
		people, err := s.Assignees(a)
		if err != nil {
			big.err = err
			return
		}
		refs := make([]string, len(people))
		for i, u := range people {
			refs[i] = u.ID
		}
		const batch = 10_000
		made := 0
		for made < benchTokens {
			for lo := 0; lo < len(refs) && made < benchTokens; lo += batch {
				hi := min(lo+batch, len(refs), lo+benchTokens-made)
				toks, err := s.AssignTokens(a, refs[lo:hi], store.TokenSpec{Name: fmt.Sprintf("token %d", made)})
				if err != nil {
					big.err = err
					return
				}
				made += len(toks)
			}
		}
		fmt.Fprintf(os.Stderr, "bench store: %d users, %d tokens built in %v\n", benchUsers, made, time.Since(start).Round(time.Millisecond))
	})
	if big.err != nil {
		b.Fatal(big.err)
	}
	return big
}

func skipBig(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a store of 100k users and 1M tokens; skipped with -short")
	}
}

// BenchmarkPickerKeystroke measures the Assign Token To User picker filtering
// 100k assignees as someone types "maya ch": each op types the whole query,
// and the median of single keystrokes is reported as ms/keystroke-median
// (issue 3's budget is 16 ms).
func BenchmarkPickerKeystroke(b *testing.B) {
	skipBig(b)
	o := bigStore(b)
	users, err := o.s.Assignees(store.Actor{UserID: o.owner.ID, Via: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	p := newPicker(NewStyles(asciiRenderer(nil)))
	p.w, p.h = 80, 20
	p.setUsers(users)
	query := "mayach"
	var per, first []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.input.SetValue("")
		p.filter("")
		for j, r := range query {
			t0 := time.Now()
			p.update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			_ = p.view()
			d := time.Since(t0)
			per = append(per, d)
			if j == 0 {
				first = append(first, d)
			}
		}
	}
	b.StopTimer()
	if len(p.matches) == 0 {
		b.Fatalf("query %q matched nobody among %d", query, len(users))
	}
	b.ReportMetric(ms(median(per)), "ms/keystroke-median")
	b.ReportMetric(ms(median(first)), "ms/first-keystroke-median")
	b.ReportMetric(float64(len(users)), "assignees")
}

// BenchmarkTokensFirstPage measures opening API Tokens on 1M tokens: the
// store call for one screenful plus rendering it (budget 50 ms).
func BenchmarkTokensFirstPage(b *testing.B) {
	skipBig(b)
	o := bigStore(b)
	e := &env{be: o.s, actor: store.Actor{UserID: o.owner.ID, Via: "bench"}, st: NewStyles(asciiRenderer(nil)), renderer: asciiRenderer(nil)}
	var times []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := newTokensPage(e)
		p.SetSize(80, 19)
		msg := p.Reload()()
		p.Update(msg)
		v := p.View()
		times = append(times, time.Since(t0))
		if !strings.Contains(v, "token ") {
			b.Fatalf("first page shows no tokens:\n%s", v)
		}
	}
	b.StopTimer()
	b.ReportMetric(ms(median(times)), "ms/first-page-median")
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkFuzzyFilter100k is the picker's worst keystroke without a store:
// one letter against 100,000 labels, nearly all of which match.
func BenchmarkFuzzyFilter100k(b *testing.B) {
	labels := make([]string, 100_000)
	for i := range labels {
		labels[i] = fmt.Sprintf("%s %s %d u%d@bench.example", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)], i, i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(fuzzyFilter("m", labels, nil)) == 0 {
			b.Fatal("no match")
		}
	}
}
