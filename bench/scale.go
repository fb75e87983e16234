package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/keydesk/keydesk/cli"
	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store"
	kvbolt "github.com/keydesk/keydesk/store/kv/bolt"
	"github.com/keydesk/keydesk/tui"
	"github.com/sahilm/fuzzy"
	bolt "go.etcd.io/bbolt"
	gossh "golang.org/x/crypto/ssh"
)

// scaleOrg is a generated organization on disk with its owner's SSH key.
type scaleOrg struct {
	dir       string
	key       gossh.Signer
	users     int
	tokens    int
	generate  time.Duration // zero when it came from the cache
	cachedGen time.Duration // what generating the cached copy took
}

const (
	ownerKeyFile = "bench_owner_ed25519"
	completeFile = "bench_complete"
)

// scaleDir names a cached organization by everything that shapes it, so a
// change of size or schema never reuses the wrong one.
func scaleDir(cacheDir string, users, perUser int) string {
	return filepath.Join(cacheDir, fmt.Sprintf("org-%du-%dt-schema%d", users, perUser, store.SchemaVersion))
}

// loadOrGenerate returns the organization of users people × perUser tokens
// from the cache, generating it with store.BulkLoad (large fsynced
// transactions) when it is missing or was left half-made.
func loadOrGenerate(dir string, users, perUser int) (*scaleOrg, error) {
	so := &scaleOrg{dir: dir, users: users, tokens: users * perUser}
	if b, err := os.ReadFile(filepath.Join(dir, completeFile)); err == nil {
		// The marker records how long generating took, for the notes.
		so.cachedGen, _ = time.ParseDuration(strings.TrimSpace(string(b)))
		b, err := os.ReadFile(filepath.Join(dir, ownerKeyFile))
		if err != nil {
			return nil, err
		}
		if so.key, err = gossh.ParsePrivateKey(b); err != nil {
			return nil, fmt.Errorf("cached owner key: %w", err)
		}
		return so, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerKeyFile), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if so.key, err = gossh.NewSignerFromKey(priv); err != nil {
		return nil, err
	}
	start := time.Now()
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return nil, err
	}
	owner, err := s.Init(store.NewUser{Name: ownerName, Email: ownerEmail, Role: models.RoleOwner, Keys: []string{authorizedKey(so.key)}}, "bench")
	if err != nil {
		s.Close()
		return nil, err
	}
	lastLog := time.Now()
	err = s.BulkLoad(store.Actor{UserID: owner.ID, Via: "bench"}, store.BulkSpec{Users: users, TokensPerUser: perUser,
		Progress: func(u, t int) {
			if time.Since(lastLog) > 5*time.Second {
				logf("   generating: %d users, %d tokens (%v)", u, t, time.Since(start).Round(time.Second))
				lastLog = time.Now()
			}
		}})
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("bulk load: %w", err)
	}
	so.generate = time.Since(start)
	if err := os.WriteFile(filepath.Join(dir, completeFile), []byte(so.generate.String()+"\n"), 0o600); err != nil {
		return nil, err
	}
	return so, nil
}

// compactedCopy returns a copy of the organization in so.dir rewritten by
// `keydesk compact`, cached beside it: the same data with each kind of
// record on pages of its own, as an operator gets it after compacting.
func compactedCopy(so *scaleOrg) (*scaleOrg, error) {
	dir := so.dir + "-compacted"
	out := *so
	out.dir, out.generate = dir, 0
	if _, err := os.Stat(filepath.Join(dir, completeFile)); err == nil {
		return &out, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := copyDir(so.dir, dir); err != nil {
		return nil, fmt.Errorf("copy for compacting: %w", err)
	}
	var errb strings.Builder
	if code := cli.Run([]string{"--data", dir, "compact"}, cli.Env{Stdout: io.Discard, Stderr: &errb}); code != 0 {
		return nil, fmt.Errorf("keydesk compact exited %d: %s", code, errb.String())
	}
	// compact keeps the original beside the new file; the copy needs no backup.
	olds, _ := filepath.Glob(filepath.Join(dir, kvbolt.File+".bak-compact-*"))
	for _, f := range olds {
		_ = os.Remove(f)
	}
	return &out, nil
}

// copyDir copies the files under src to dst with their permissions (the
// store refuses secrets others may read).
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(to, info.Mode().Perm())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
}

// consoleFigures drives the console in-process on the organization in dir
// as its owner: from My Profile to the first page of API Tokens, then the
// Assign Token To User picker over every assignee, typing query one key at
// a time. It returns the first page's time and each keystroke's Update +
// View, and the picker's labels for the baseline.
func consoleFigures(dir, query string) (firstPage time.Duration, keys latencies, labels []string, err error) {
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return 0, nil, nil, err
	}
	defer s.Close()
	owner, err := s.Owner()
	if err != nil {
		return 0, nil, nil, err
	}
	m := tui.New(tui.Options{Backend: s, UserID: owner.ID, Via: "bench"})
	defer tui.Close(m)
	d := newDriver(m, 120, 40)
	if err := d.until(owner.Email, 30*time.Second); err != nil {
		return 0, nil, nil, err
	}
	t0 := time.Now()
	d.handle(key('2'))
	if err := d.until("kdr_", time.Minute); err != nil {
		return 0, nil, nil, err
	}
	firstPage = time.Since(t0)

	d.handle(key('a'))
	if err := d.until(" match", 2*time.Minute); err != nil {
		return 0, nil, nil, err
	}
	for _, r := range query {
		d.drain()
		t := time.Now()
		d.handle(key(r))
		_ = d.m.View()
		keys = append(keys, time.Since(t))
	}
	if !strings.Contains(d.m.View(), " match") {
		return 0, nil, nil, errors.New("picker closed while typing")
	}
	us, err := s.Assignees(store.Actor{UserID: owner.ID, Via: "bench"})
	if err != nil {
		return 0, nil, nil, err
	}
	for _, u := range us {
		labels = append(labels, models.Sanitize(u.Name)+" "+models.Sanitize(u.Email))
	}
	return firstPage, keys, labels, nil
}

// countingWriter discards what it is given and counts it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// listAll runs `keydesk token list --all --json` on dir through the CLI, its
// output counted and thrown away.
func listAll(dir string) (time.Duration, int64, error) {
	out, errb := &countingWriter{}, &strings.Builder{}
	t0 := time.Now()
	code := cli.Run([]string{"--data", dir, "token", "list", "--all", "--json"}, cli.Env{Stdout: out, Stderr: errb})
	if code != 0 {
		return 0, 0, fmt.Errorf("token list exited %d: %s", code, errb.String())
	}
	return time.Since(t0), out.n, nil
}

// fileLayout is where a database file's bytes go, from bbolt's page
// statistics: what the size rows' note says limits them.
type fileLayout struct {
	keys, held          int64 // keys, and bytes of keys + values, in every bucket
	leafInuse, leafPage int64 // bytes used on leaf pages (headers included), bytes of leaf pages
	branch              int64 // bytes of branch pages
}

func layoutOf(dir string) (fileLayout, error) {
	var l fileLayout
	db, err := bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return l, err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			st := b.Stats()
			l.keys += int64(st.KeyN)
			l.leafInuse += int64(st.LeafInuse)
			l.leafPage += int64(st.LeafAlloc)
			l.branch += int64(st.BranchAlloc)
			return b.ForEach(func(k, v []byte) error {
				l.held += int64(len(k) + len(v))
				return nil
			})
		})
	})
	return l, err
}

// bareScan reads every key and value of every bucket of the database with
// bbolt alone: what streaming the whole file costs at least.
func bareScan(dir string) (time.Duration, int64, error) {
	db, err := bolt.Open(filepath.Join(dir, kvbolt.File), 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var n int64
	t0 := time.Now()
	err = db.View(func(tx *bolt.Tx) error {
		var walk func(b *bolt.Bucket) error
		walk = func(b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if v == nil {
					if sub := b.Bucket(k); sub != nil {
						return walk(sub)
					}
				}
				n += int64(len(k) + len(v))
				return nil
			})
		}
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walk(b) })
	})
	return time.Since(t0), n, err
}

// serverFigures starts `keydesk serve` on dir, times it to its first
// /healthz, then opens the owner's console, goes to API Tokens and opens the
// picker (which loads every assignee) and reads the server's memory there,
// once the console has sat idle for settle.
func serverFigures(dir string, key gossh.Signer, settle time.Duration) (start time.Duration, idle, used memory, err error) {
	p, start, err := startKeydesk(dir)
	if err != nil {
		return 0, idle, used, err
	}
	defer p.stop()
	if idle, err = p.mem(); err != nil {
		return 0, idle, used, err
	}
	c, _, err := openConsole(p.sshAddr, nil, key, time.Minute, consoleMarkers...)
	if err != nil {
		return 0, idle, used, err
	}
	defer c.close()
	// The marker writer has stopped keeping output; a fresh one watches
	// for the next screens.
	for _, step := range []struct{ keys, want string }{{"2", "kdr_"}, {"a", " match"}} {
		w := newMarkerWriter(step.want)
		c.setOutput(w)
		if _, err := io.WriteString(c.in, step.keys); err != nil {
			return 0, idle, used, err
		}
		select {
		case <-w.found:
		case <-time.After(2 * time.Minute):
			return 0, idle, used, fmt.Errorf("console never showed %q: %s", step.want, w.tail())
		}
	}
	time.Sleep(settle) // idle is the point: nothing to poll for
	used, err = p.mem()
	return start, idle, used, err
}

// serverRound is serverFigures on the large and the small organization.
type serverRound struct {
	bigStart, smallStart time.Duration
	bigIdle, bigUsed     memory
	smallIdle, smallUsed memory
	packedUsed           memory // the large organization after keydesk compact
}

// benchScale measures the generated large organization beside a small one
// (100 people × 10 tokens) run through the same steps, so the ratio is what
// size costs. Where a figure is measured more than once, the large and the
// small (or the listing and the bare scan) alternate.
func benchScale(cfg *config, rep *report) error {
	big, err := loadOrGenerate(scaleDir(cfg.cacheDir, cfg.scaleUsers, cfg.scaleTokens), cfg.scaleUsers, cfg.scaleTokens)
	if err != nil {
		return err
	}
	if big.generate > 0 {
		rep.note("Scale data: generated %d users × %d tokens with store.BulkLoad in %s this run (cached in bench/.cache/ for later runs).",
			big.users, cfg.scaleTokens, fmtDur(big.generate))
	} else {
		rep.note("Scale data: %d users × %d tokens from bench/.cache/ (generated by an earlier run with store.BulkLoad in %s).", big.users, cfg.scaleTokens, fmtDur(big.cachedGen))
	}
	small, err := loadOrGenerate(scaleDir(cfg.cacheDir, 100, 10), 100, 10)
	if err != nil {
		return err
	}
	packed, err := compactedCopy(big)
	if err != nil {
		return err
	}
	sizeLabel := fmt.Sprintf("%dk users, %s tokens", big.users/1000, humanCount(big.tokens))
	base := "100 users, 1k tokens"
	nRounds := 2
	if cfg.short {
		nRounds = 1
	}

	// Server start and memory, as a subprocess, large and small alternating.
	var srv []serverRound
	for range nRounds {
		var r serverRound
		if r.bigStart, r.bigIdle, r.bigUsed, err = serverFigures(big.dir, big.key, cfg.settle); err != nil {
			return fmt.Errorf("server on %s: %w", sizeLabel, err)
		}
		if r.smallStart, r.smallIdle, r.smallUsed, err = serverFigures(small.dir, small.key, cfg.settle); err != nil {
			return fmt.Errorf("server on the small org: %w", err)
		}
		if _, _, r.packedUsed, err = serverFigures(packed.dir, packed.key, cfg.settle); err != nil {
			return fmt.Errorf("server on the compacted %s: %w", sizeLabel, err)
		}
		srv = append(srv, r)
	}
	var startR, vmR, anonR rounds
	var bigStarts, smallStarts latencies
	var bigVM, smallVM, bigAnon, smallAnon, packedVM, packedAnon []int64
	var packedVMR, packedAnonR rounds
	for _, r := range srv {
		startR = append(startR, ratio(float64(r.bigStart), float64(r.smallStart)))
		vmR = append(vmR, ratio(float64(r.bigUsed.rss), float64(r.smallUsed.rss)))
		anonR = append(anonR, ratio(float64(r.bigUsed.anon), float64(r.smallUsed.anon)))
		bigStarts, smallStarts = append(bigStarts, r.bigStart), append(smallStarts, r.smallStart)
		bigVM, smallVM = append(bigVM, r.bigUsed.rss), append(smallVM, r.smallUsed.rss)
		bigAnon, smallAnon = append(bigAnon, r.bigUsed.anon), append(smallAnon, r.smallUsed.anon)
		packedVM, packedAnon = append(packedVM, r.packedUsed.rss), append(packedAnon, r.packedUsed.anon)
		packedVMR = append(packedVMR, ratio(float64(r.packedUsed.rss), float64(r.smallUsed.rss)))
		packedAnonR = append(packedAnonR, ratio(float64(r.packedUsed.anon), float64(r.smallUsed.anon)))
	}
	bigStart := medianDur(bigStarts)
	rep.addRounds("scale: server start (exec → first /healthz), "+sizeLabel, fmtDur(bigStart), fmtDur(medianDur(smallStarts))+" "+base,
		startR, "≤ 2 s", func(float64) bool { return bigStart <= 2*time.Second })

	// The console's first page and picker, in-process.
	const query = "person04217"
	bigPage, bigKeys, labels, err := consoleFigures(big.dir, query)
	if err != nil {
		return fmt.Errorf("console on %s: %w", sizeLabel, err)
	}
	smallPage, _, _, err := consoleFigures(small.dir, query)
	if err != nil {
		return fmt.Errorf("console on the small org: %w", err)
	}
	r := ratio(float64(bigPage), float64(smallPage))
	rep.add("scale: API Tokens first page (key press → page drawn), "+sizeLabel, fmtDur(bigPage), fmtDur(smallPage)+" "+base, r, "≤ 50 ms", ptr(bigPage <= 50*time.Millisecond))

	if err := tokenPageRows(big.dir, sizeLabel, rep); err != nil {
		return fmt.Errorf("token pages on %s: %w", sizeLabel, err)
	}

	var bare latencies
	for i := range query {
		t := time.Now()
		_ = fuzzy.Find(query[:i+1], labels)
		bare = append(bare, time.Since(t))
	}
	sortedKeys := bigKeys.sorted()
	bare = bare.sorted()
	med := sortedKeys.pct(0.5)
	r = ratio(float64(med), float64(bare.pct(0.5)))
	rep.add(fmt.Sprintf("scale: picker filter per keystroke (median), %dk assignees", len(labels)/1000), fmtDur(med),
		fmtDur(bare.pct(0.5))+" sahilm/fuzzy.Find over all names", r, "≤ 16 ms", ptr(med <= 16*time.Millisecond))
	rep.note("Picker: typed %q one key at a time into the Assign Token To User picker (tui driven in-process, Update + View timed per key); first key %s, slowest %s. Baseline: sahilm/fuzzy.Find over every \"name email\" label for each prefix, one core, no narrowing.",
		query, fmtDur(bigKeys[0]), fmtDur(sortedKeys[len(sortedKeys)-1]))

	// Streaming every token through the CLI, against reading the file
	// bare, alternating (scan, list, scan, …).
	if _, _, err := bareScan(big.dir); err != nil { // warms the page cache for both
		return err
	}
	// Seven rounds: a listing is two goroutines on two CPUs against a bare
	// scan on one, so a moment's load elsewhere on the machine slows it
	// more, and with three rounds one full run's median moved 3.7–6.5×.
	listRounds := 7
	var listR rounds
	var listTimes, scanTimes latencies
	var listBytes, scanBytes int64
	for range listRounds {
		scanTime, sb, err := bareScan(big.dir)
		if err != nil {
			return err
		}
		listTime, lb, err := listAll(big.dir)
		if err != nil {
			return err
		}
		listR = append(listR, ratio(float64(listTime), float64(scanTime)))
		listTimes, scanTimes = append(listTimes, listTime), append(scanTimes, scanTime)
		listBytes, scanBytes = lb, sb
	}
	listTime, scanTime := medianDur(listTimes), medianDur(scanTimes)
	if listR.median() > 5 {
		rep.note("`token list --all --json` misses 5×: it streams each token from its compact record (no Token decoded, nothing allocated per token) and reads the next page of records while the current one is encoded, so on %d CPUs the listing takes about the time of its slower half. A CPU profile of four warm listings of 1M tokens (2 December, 04:10 UTC, after the page pipeline) has the page reader at 52%% of the CPU (the bbolt walk and copying records out of the read transaction ~14%%, decoding the records 18%%, resolving holders' names in the listing's cache of 100k people 11%%) and the encoder at 45%% (the JSON lines 37%%: people's cached holder and creator fields 15%% with the check that a cached person is still the same, escaping the token's own strings 15%%, times 6%%); wall time ~430 ms a listing for ~710 ms of CPU. The reader is the slower half; the bare scan only walks the bytes, on one CPU.", runtime.NumCPU())
	}
	rep.addRounds("scale: `token list --all --json`, "+sizeLabel, fmtDur(listTime)+fmt.Sprintf(" (%s out)", fmtBytes(listBytes)),
		fmtDur(scanTime)+" bare bbolt scan of every bucket", listR, "≤ 5×", func(r float64) bool { return r <= 5 })

	fi, err := os.Stat(filepath.Join(big.dir, kvbolt.File))
	if err != nil {
		return err
	}
	r = ratio(float64(fi.Size()), float64(scanBytes))
	rep.add("scale: database file size, "+sizeLabel+", as store.BulkLoad wrote it", fmtBytes(fi.Size()), fmtBytes(scanBytes)+" keys + values it holds",
		r, "≤ 1.3×", ptr(r <= 1.3))
	pfi, err := os.Stat(filepath.Join(packed.dir, kvbolt.File))
	if err != nil {
		return err
	}
	r = ratio(float64(pfi.Size()), float64(scanBytes))
	rep.add("scale: database file size, "+sizeLabel+", after `keydesk compact`", fmtBytes(pfi.Size()), fmtBytes(scanBytes)+" keys + values it holds",
		r, "≤ 1.3×", ptr(r <= 1.3))
	if l, err := layoutOf(big.dir); err == nil && l.held > 0 && l.leafPage > 0 {
		// bbolt stores each key with a 16-byte element header on its leaf page.
		headers := 16 * l.keys
		rep.note("Database file size: the file as store.BulkLoad wrote it holds %s of keys and values in %s keys (%.2f per token); bbolt's 16-byte header per key adds %s, so even completely full pages would make it %.2f× what it holds. Leaf pages are %.1f%% used (BulkLoad writes every bucket's keys in increasing order and packs its pages), branch pages take %s and the rest of the file (meta and freelist pages, the last 1 MiB growth step) %s. What limits the ratio is the number of small keys: since schema 3 each holder's live set is one value in the holder index, not one meta key per live token (1M keys fewer, 1.32× → 1.29× on this organization); each token still has three keys (its record, its digest, its holder-index entry).",
			fmtBytes(l.held), fmt.Sprintf("%.2fM", float64(l.keys)/1e6), float64(l.keys)/float64(big.tokens), fmtBytes(headers), float64(l.held+headers)/float64(l.held),
			100*float64(l.leafInuse)/float64(l.leafPage), fmtBytes(l.branch), fmtBytes(fi.Size()-l.leafPage-l.branch))
	}

	bigVMm, bigAnonM := medianInt(bigVM), medianInt(bigAnon)
	rep.addRounds("scale: server RSS (VmRSS), owner console on API Tokens with the picker open, "+sizeLabel, fmtBytes(bigVMm), fmtBytes(medianInt(smallVM))+" "+base,
		vmR, "≤ 100 MiB", func(float64) bool { return bigVMm <= 100<<20 })
	rep.addRounds("scale: server private memory (RssAnon), the same console, "+sizeLabel, fmtBytes(bigAnonM), fmtBytes(medianInt(smallAnon))+" "+base,
		anonR, "≤ 50 MiB", func(float64) bool { return bigAnonM <= 50<<20 })
	packedVMm, packedAnonM := medianInt(packedVM), medianInt(packedAnon)
	rep.addRounds("scale: server RSS (VmRSS), the same console, "+sizeLabel+" after `keydesk compact`", fmtBytes(packedVMm), fmtBytes(medianInt(smallVM))+" "+base,
		packedVMR, "≤ 100 MiB", func(float64) bool { return packedVMm <= 100<<20 })
	rep.addRounds("scale: server private memory (RssAnon), the same console, "+sizeLabel+" after `keydesk compact`", fmtBytes(packedAnonM), fmtBytes(medianInt(smallAnon))+" "+base,
		packedAnonR, "≤ 50 MiB", func(float64) bool { return packedAnonM <= 50<<20 })
	if bigVMm > 100<<20 {
		rep.note("Scale VmRSS misses 100 MiB on the file as store.BulkLoad wrote it: private memory is %s; the rest is the database file's pages the server touched through its read-only mmap. The picker reads every person's record (the users bucket holds 16 MiB of values on ~18 MiB of pages), and the kernel maps up to 16 neighbouring pages (fault-around) that are already in the page cache on each fault. BulkLoad writes the people in transactions of their own before any token, so the users bucket's pages should lie together as after `keydesk compact` (%s): see whether the page cache held the rest of the file.",
			fmtBytes(bigAnonM), fmtBytes(packedVMm))
	} else {
		rep.note("Scale VmRSS: %s on the file as store.BulkLoad wrote it, %s after `keydesk compact`: private memory (heap, stacks) is %s; the rest is the database file's pages the server touched through its read-only mmap, mostly the users bucket (16 MiB of records on ~18 MiB of pages) that the picker reads whole, plus the kernel's fault-around of up to 16 neighbouring cached pages per fault. BulkLoad writes the people in transactions of their own before any token, so their pages lie together in the file as compact leaves them (before, interleaved with token pages: 83 MiB against 75 MiB compacted).",
			fmtBytes(bigVMm), fmtBytes(packedVMm), fmtBytes(bigAnonM))
	}
	last := srv[len(srv)-1]
	rep.note("Scale memory: `keydesk serve` subprocess, %d rounds alternating the large and the small organization; %s VmRSS (%s private) just after start (%s / %s on the small org), %s VmRSS (%s private) with the owner's console on API Tokens and the picker holding every assignee (last round). VmRSS counts the database file's pages the server has touched through its read-only mmap, which the kernel may drop; RssAnon is the heap and stacks.",
		len(srv), fmtBytes(last.bigIdle.rss), fmtBytes(last.bigIdle.anon), fmtBytes(last.smallIdle.rss), fmtBytes(last.smallIdle.anon), fmtBytes(last.bigUsed.rss), fmtBytes(last.bigUsed.anon))
	return nil
}

// tokenPageRows times the API Tokens page's sorted and filtered pages
// (store.ListTokens over the whole organization, as the console asks for
// them) against the default first page, in-process. The first sorted page
// builds the store's listing index and is reported in a note.
func tokenPageRows(dir, sizeLabel string, rep *report) error {
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	owner, err := s.Owner()
	if err != nil {
		return err
	}
	a := store.Actor{UserID: owner.ID, Via: "bench"}
	timed := func(q store.TokenQuery) (time.Duration, store.TokenPage, error) {
		t := time.Now()
		p, err := s.ListTokens(a, q)
		return time.Since(t), p, err
	}
	var plain latencies
	for range 5 {
		d, _, err := timed(store.TokenQuery{All: true, Limit: 30})
		if err != nil {
			return err
		}
		plain = append(plain, d)
	}
	first, _, err := timed(store.TokenQuery{All: true, Sort: "name", Limit: 30})
	if err != nil {
		return err
	}
	var sorted latencies
	for _, q := range []store.TokenQuery{{Sort: "name"}, {Sort: "holder", Desc: true}, {Sort: "status"}, {Sort: "expires", Desc: true}} {
		q.All, q.Limit = true, 30
		for range 3 { // a page and the two after it
			d, p, err := timed(q)
			if err != nil {
				return err
			}
			sorted = append(sorted, d)
			q.After = p.Next
		}
	}
	var filtered latencies
	const typed = "person04217"
	for i := range typed {
		for _, sort := range []string{"", "name"} {
			d, _, err := timed(store.TokenQuery{All: true, Filter: typed[:i+1], Sort: sort, Limit: 30})
			if err != nil {
				return err
			}
			filtered = append(filtered, d)
		}
	}
	base := medianDur(plain)
	med := medianDur(sorted)
	rep.add("scale: API Tokens sorted page (store.ListTokens, median of 12), "+sizeLabel, fmtDur(med), fmtDur(base)+" default first page",
		ratio(float64(med), float64(base)), "≤ 50 ms", ptr(med <= 50*time.Millisecond))
	fmed := medianDur(filtered)
	rep.add("scale: API Tokens filtered page per keystroke (median of 22), "+sizeLabel, fmtDur(fmed), fmtDur(base)+" default first page",
		ratio(float64(fmed), float64(base)), "≤ 50 ms", ptr(fmed <= 50*time.Millisecond))
	fs := filtered.sorted()
	rep.note("API Tokens pages: the first sorted page built the store's listing index in %s; sorted pages slowest %s; filtered pages (typing %q, unsorted and by name) slowest %s.",
		fmtDur(first), fmtDur(sorted.sorted()[len(sorted)-1]), typed, fmtDur(fs[len(fs)-1]))
	return nil
}

func medianDur(l latencies) time.Duration { return l.sorted().pct(0.5) }

func humanCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
