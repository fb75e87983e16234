package store

import (
	"bytes"
	"fmt"
	"sort"
	"time"

	"github.com/keydesk/keydesk/models"
	"github.com/keydesk/keydesk/store/kv"
)

// BulkSpec sizes a generated organization for benchmarks and capacity tests.
type BulkSpec struct {
	Users           int // people added (every 10th an admin, the rest users)
	TokensPerUser   int // active tokens generated for each of them
	BatchSize       int // records per transaction (default 20,000)
	Progress        func(users, tokens int)
	RevokedEveryNth int // every Nth token is revoked (0: none)
}

// BulkLoad fills an organization with generated people and tokens far faster
// than one call per record: it writes the same records and indexes as AddUser
// and CreateToken, in large transactions (each still fsynced), with one audit
// entry per transaction instead of one per record: the people first, then
// their tokens, then the digest index. Owner only. The secrets are
// thrown away: these tokens exist to be listed, filtered and paged, not used.
func (s *Store) BulkLoad(a Actor, spec BulkSpec) error {
	if spec.BatchSize <= 0 {
		spec.BatchSize = 20000
	}
	// An engine with bounded transactions (etcd) gets batches that fit: a user
	// is three writes (record, email and name indexes) and later one more (the
	// live set), a token two (record, holder index; digests are written at the
	// end), the audit entry and its sequence two.
	lim := s.engine.Limits()
	const bytesPerRecord = 512 // a generous record plus its index keys
	if lim.MaxOps > 0 && spec.BatchSize > (lim.MaxOps-2)/4 {
		spec.BatchSize = max(1, (lim.MaxOps-2)/4)
	}
	if lim.MaxBytes > 0 && spec.BatchSize > lim.MaxBytes/bytesPerRecord {
		spec.BatchSize = max(1, lim.MaxBytes/bytesPerRecord)
	}
	var owner models.User
	if err := s.view(func(tx kv.Tx) error {
		var err error
		if owner, err = s.txn(tx).actor(a); err != nil {
			return err
		}
		return models.Authorize(owner.Subject(), models.ActUserAdd, nil)
	}); err != nil {
		return err
	}
	if owner.Role != models.RoleOwner {
		return fmt.Errorf("%w: only the Account Owner may bulk-load", models.ErrPermission)
	}
	// People first, then their tokens: the users buckets are written by
	// their own transactions and never again, so their pages lie together
	// in the file, as `keydesk compact` leaves them. Interleaved with token
	// pages, a console that reads every person (the picker) touched 82 MiB
	// of the 1M-token file through the kernel's fault-around, against 74 MiB
	// after compacting.
	now := s.opts.Now().UTC()
	users := make([]models.User, spec.Users)
	for i := range users {
		id, err := models.NewID("usr_")
		if err != nil {
			return err
		}
		role := models.RoleUser
		if i%10 == 0 {
			role = models.RoleAdmin
		}
		users[i] = models.User{ID: id, Name: fmt.Sprintf("Person %06d", i), Email: fmt.Sprintf("person%06d@bulk.example", i), Role: role, CreatedAt: now}
	}
	// Inserting in key order keeps a B+tree's page splits cheap.
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	for start := 0; start < len(users); start += spec.BatchSize {
		part := users[start:min(len(users), start+spec.BatchSize)]
		if err := s.update(func(tx kv.Tx) error {
			t := s.txn(tx)
			// Every key these buckets get arrives after the previous batch's
			// (ids grow with time; emails with i), so pages can be full.
			packed(tx, bucketUsers, bucketUsersByEmail, bucketMeta)
			for _, u := range part {
				if v, err := t.Get(bucketUsersByEmail, []byte(u.Email)); err != nil || v != nil {
					if err != nil {
						return err
					}
					return fmt.Errorf("%w: a user with email %s already exists", models.ErrConflict, u.Email)
				}
				if err := t.putUser(u); err != nil {
					return err
				}
				if err := t.indexName(u); err != nil {
					return err
				}
				if err := t.Put(bucketUsersByEmail, []byte(u.Email), []byte(u.ID)); err != nil {
					return err
				}
			}
			e := entry(models.AuditUsersImported, a, owner, models.User{})
			e.Detail = fmt.Sprintf("bulk load: %d users", len(part))
			return t.audit(e)
		}); err != nil {
			return err
		}
		if spec.Progress != nil {
			spec.Progress(start+len(part), 0)
		}
	}

	type pending struct {
		u    models.User
		toks []models.Token
		dig  [][]byte
	}
	var batch []pending
	var digests digestIndex
	records, doneTokens := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n := 0
		err := s.update(func(tx kv.Tx) error {
			t := s.txn(tx)
			// Token ids grow with time and holders come in id order, so
			// these keys too arrive after the previous batch's.
			packed(tx, bucketTokens, bucketTokensByUser)
			for _, p := range batch {
				var live []string
				for _, tok := range p.toks {
					if err := t.putToken(tok); err != nil {
						return err
					}
					if err := t.Put(bucketTokensByUser, holderKey(p.u.ID, tok.ID), nil); err != nil {
						return err
					}
					if tok.RevokedAt.IsZero() {
						live = append(live, tok.ID)
					}
				}
				if err := t.putLiveSet(p.u.ID, live); err != nil {
					return err
				}
				n += len(p.toks)
			}
			e := entry(models.AuditUsersImported, a, owner, models.User{})
			e.Detail = fmt.Sprintf("bulk load: %d tokens of %d users", n, len(batch))
			return t.audit(e)
		})
		for _, p := range batch {
			for i, tok := range p.toks {
				digests.add(p.dig[i], tok.ID)
			}
		}
		batch, records = batch[:0], 0
		if err == nil && spec.Progress != nil {
			spec.Progress(len(users), doneTokens)
		}
		return err
	}
	if spec.TokensPerUser > 0 {
		for _, u := range users {
			p := pending{u: u}
			for j := 0; j < spec.TokensPerUser; j++ {
				secret, err := models.NewRefreshToken()
				if err != nil {
					return err
				}
				tid, err := models.NewID("tok_")
				if err != nil {
					return err
				}
				tok := models.Token{ID: tid, Name: fmt.Sprintf("token %d", j), HolderID: u.ID, Role: u.Role,
					CreatedAt: now.Add(-time.Duration(j) * time.Hour), CreatedBy: u.ID, Tail: models.TokenTail(secret)}
				doneTokens++
				if spec.RevokedEveryNth > 0 && doneTokens%spec.RevokedEveryNth == 0 {
					tok.RevokedAt, tok.RevokedBy = now, owner.ID
				}
				p.toks = append(p.toks, tok)
				p.dig = append(p.dig, s.digest(secret))
			}
			if len(batch) > 0 && records+1+len(p.toks) > spec.BatchSize {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, p)
			records += 1 + len(p.toks)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if err := s.bulkDigests(&digests, spec.BatchSize); err != nil {
		return err
	}
	s.afterCommit(Event{Type: models.AuditUsersImported})
	return nil
}

// packed asks the engine to fill the pages of bs in this transaction
// (kv.Packer), when it has pages.
func packed(tx kv.Tx, bs ...kv.Bucket) {
	if p, ok := tx.(kv.Packer); ok {
		for _, b := range bs {
			p.Pack(b)
		}
	}
}

// digestIndex collects the digest → token id entries of a bulk load, to be
// written last in digest order: digests are random, so written batch by batch
// they land all over the index and leave its pages 69% full; written in
// order, every page is full. A fixed-size entry each (32-byte digest, id), in
// one buffer: 1M tokens hold about 50 MB here until the end.
type digestIndex struct {
	buf      []byte
	size, id int // bytes per entry, of which the digest
}

func (d *digestIndex) add(dig []byte, id string) {
	if d.size == 0 {
		d.id, d.size = len(dig), len(dig)+len(id)
	}
	if len(dig) != d.id || len(dig)+len(id) != d.size {
		panic("bulk load: digests or ids of different lengths") // generated here: never
	}
	d.buf = append(append(d.buf, dig...), id...)
}

func (d *digestIndex) entry(i int) (dig, id []byte) {
	e := d.buf[i*d.size : (i+1)*d.size : (i+1)*d.size]
	return e[:d.id], e[d.id:]
}

// bulkDigests writes the collected digest index in digest order, batch
// records per transaction. Until it has, the loaded tokens are listed but no
// secret finds them (the secrets were thrown away anyway); a load that fails
// here leaves that half-made organization, as one failing earlier does.
func (s *Store) bulkDigests(d *digestIndex, batch int) error {
	if d.size == 0 {
		return nil
	}
	n := len(d.buf) / d.size
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	sort.Slice(order, func(i, j int) bool {
		a, _ := d.entry(int(order[i]))
		b, _ := d.entry(int(order[j]))
		return bytes.Compare(a, b) < 0
	})
	for start := 0; start < n; start += batch {
		part := order[start:min(n, start+batch)]
		if err := s.update(func(tx kv.Tx) error {
			packed(tx, bucketTokensByHash)
			for _, i := range part {
				dig, id := d.entry(int(i))
				if err := tx.Put(bucketTokensByHash, dig, id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}
