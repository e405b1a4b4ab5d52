package devices

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ImportChunk is how many documents ImportDevices writes per bbolt
// transaction: one fsync per chunk instead of one per device, while a
// refused chunk stays small enough to fix and retry.
const ImportChunk = 10000

// ImportError is a document that stopped an import. Index is its position
// in the docs given to ImportDevices; Err is the *ValidationError (Kazoo's
// fields) that CreateDevice would have returned for it.
type ImportError struct {
	Index int
	Err   error
}

func (e *ImportError) Error() string {
	if verr, ok := e.Err.(*ValidationError); ok {
		b, _ := json.Marshal(verr.Fields)
		return fmt.Sprintf("devices: import: document %d: validation error: %s", e.Index, b)
	}
	return fmt.Sprintf("devices: import: document %d: %v", e.Index, e.Err)
}

func (e *ImportError) Unwrap() error { return e.Err }

// ImportDevices creates every document in docs as a device of the account,
// ImportChunk documents per transaction. Each document passes exactly what
// CreateDevice checks (schema, defaults, SIP credentials, IP and MAC address
// unique against the store and against the documents before it), except
// that an "id" (or a CouchDB export's "_id") of 32 lower-case hex
// characters is kept when no device uses it yet. A document that fails
// refuses its whole chunk with an *ImportError: nothing of that chunk is
// stored, the chunks before it are (durable, indexed, subscribers told),
// and they are returned with the error.
func (s *Store) ImportDevices(accountID string, docs []map[string]any) ([]*Device, error) {
	return s.importDevices(accountID, docs, ImportChunk)
}

func (s *Store) importDevices(accountID string, docs []map[string]any, chunkSize int) ([]*Device, error) {
	out := make([]*Device, 0, len(docs))
	for start := 0; start < len(docs); start += chunkSize {
		chunk := docs[start:min(start+chunkSize, len(docs))]
		devs, err := s.importChunk(accountID, chunk)
		if ierr, ok := err.(*ImportError); ok {
			ierr.Index += start
		}
		if err != nil {
			return out, err
		}
		out = append(out, devs...)
	}
	return out, nil
}

// prepared is one import document after the store-independent checks.
type prepared struct {
	id   string // requested id, "" if none or malformed
	pub  map[string]any
	verr *ValidationError // from prepareDoc (then pub is nil) or the schema
}

func (s *Store) importChunk(accountID string, docs []map[string]any) ([]*Device, error) {
	// Canonical form, defaults and the schema depend on nothing in the
	// store: done outside the lock, on every core, as they cost the most.
	preps := make([]prepared, len(docs))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(docs))
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(docs); i += workers {
				preps[i] = prepareImport(docs[i])
			}
		})
	}
	wg.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	acct := s.accts.Load().byID[accountID]
	if acct == nil {
		return nil, ErrNotFound
	}
	// batch holds the chunk's devices so far, so that deviceConflicts
	// finds duplicates inside the chunk with the very rules it applies
	// against the store.
	batch := &Store{users: newUserIndex(), ips: newIPIndex(), devices: map[string]map[string]*Device{}, macs: map[string]*Device{}}
	taken := make(map[string]bool, len(docs))
	now := Gregorian(time.Now())
	changes := make([]Change, len(docs))
	raws, hots := make([][]byte, len(docs)), make([][]byte, len(docs))
	for i := range preps {
		p := &preps[i]
		if p.pub == nil {
			return nil, &ImportError{Index: i, Err: p.verr}
		}
		fe := fieldErrors{}
		if p.verr != nil {
			fe = p.verr.Fields
		}
		id := p.id
		if id == "" || taken[id] || s.deviceIDInUse(id) {
			id = newID()
		}
		m := recordMeta{ID: id, Type: "device", AccountID: acct.ID, Created: now, Modified: now, Rev: nextRev("")}
		raw, err := encodeRecord(p.pub, m)
		if err != nil {
			return nil, &ImportError{Index: i, Err: err}
		}
		h := hotOf(p.pub, m)
		raws[i], hots[i] = raw, appendHot(nil, &h)
		p.pub["id"] = m.ID
		dev := newDevice(acct, h)
		dev.src = s
		s.deviceConflicts(dev, p.pub, fe)
		batch.deviceConflicts(dev, p.pub, fe)
		if verr := fe.err(); verr != nil {
			return nil, &ImportError{Index: i, Err: verr}
		}
		taken[id] = true
		batch.applyDevices([]Change{{New: dev}})
		changes[i] = Change{New: dev}
	}

	type kv struct{ k, v, hot []byte }
	recs := make([]kv, len(changes))
	for i, c := range changes {
		recs[i] = kv{deviceKey(acct.ID, c.New.ID), raws[i], hots[i]}
	}
	// bbolt fills pages best with keys in order.
	slices.SortFunc(recs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, hb := tx.Bucket(bucketDevices), tx.Bucket(bucketHot)
		for _, r := range recs {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
			if err := hb.Put(r.k, r.hot); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devices: import %d devices: %w", len(recs), err)
	}
	s.applyDevices(changes)
	s.notify(changes)
	out := make([]*Device, len(changes))
	for i, c := range changes {
		out[i] = c.New
	}
	return out, nil
}

// prepareImport is CreateDevice's validation before the lock, keeping the
// document's own id when it has the shape of one.
func prepareImport(doc map[string]any) prepared {
	var p prepared
	id, _ := doc["id"].(string)
	if _, ok := doc["id"]; !ok {
		id, _ = doc["_id"].(string)
	}
	if isDocID(id) {
		p.id = id
	}
	pub, verr := prepareDoc(doc)
	if verr != nil {
		p.verr = verr
		return p
	}
	p.pub = pub
	p.verr = deviceSchema().apply(pub)
	return p
}

// isDocID tells whether id has the shape of the ids newID makes.
func isDocID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// deviceIDInUse tells whether any account has a device with this id; ids
// are unique store-wide as newID makes them. Caller holds mu.
func (s *Store) deviceIDInUse(id string) bool {
	for _, byID := range s.devices {
		if byID[id] != nil {
			return true
		}
	}
	return false
}
