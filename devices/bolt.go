package devices

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// On disk: one bbolt file, five buckets.
//
//	meta        "version" -> "2"
//	accounts    <account id>               -> account record
//	devices     <account id>/<device id>   -> device record
//	device_hot  <account id>/<device id>   -> hot record (see appendHot)
//	tokens      sha256(secret) (32 bytes)  -> Token as JSON
//
// A record is the document as CouchDB would hold it: the public fields plus
// "_id", "_rev", "pvt_type", "pvt_account_id" (devices), "pvt_created" and
// "pvt_modified" (Gregorian seconds). Every write is one bbolt transaction,
// fsync'd before Update returns.

var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketDevices  = []byte("devices")
	bucketTokens   = []byte("tokens")
	// bucketHot mirrors bucketDevices (same keys) with only the fields a
	// Device holds: what a restart reads (see appendHot).
	bucketHot = []byte("device_hot")
)

const (
	// Version 2 added bucketHot, version 3 sip.number to its records. An
	// older file is upgraded on open (its hot records written anew); a
	// sipedge that knows only an older version refuses a newer file rather
	// than writing devices without their hot records.
	storeVersion = "3"
	// lockTimeout bounds the wait for the file lock held by another process.
	lockTimeout = 2 * time.Second
)

func openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("devices: %s is locked by another process (is another sipedge running on this data dir?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("devices: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketAccounts, bucketDevices, bucketTokens, bucketHot} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get([]byte("version")); {
		case v == nil:
			return meta.Put([]byte("version"), []byte(storeVersion))
		case string(v) == "1" || string(v) == "2":
			if err := rebuildHot(tx); err != nil {
				return fmt.Errorf("upgrade to store version %s: %w", storeVersion, err)
			}
			return meta.Put([]byte("version"), []byte(storeVersion))
		case string(v) != storeVersion:
			return fmt.Errorf("unsupported store version %q (want %q)", v, storeVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("devices: open %s: %w", path, err)
	}
	return db, nil
}

// rebuildHot writes the hot record of every device record.
func rebuildHot(tx *bolt.Tx) error {
	hot := tx.Bucket(bucketHot)
	return tx.Bucket(bucketDevices).ForEach(func(k, v []byte) error {
		pub, m, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("device %s: %w", k, err)
		}
		return hot.Put(k, encodeHot(pub, m))
	})
}

func deviceKey(accountID, id string) []byte { return []byte(accountID + "/" + id) }

// recordMeta is the private part of a stored document.
type recordMeta struct {
	ID        string
	Rev       string
	Type      string
	AccountID string
	Created   int64
	Modified  int64
}

// encodeRecord builds the stored form of a public document (its "id" is
// replaced by "_id").
func encodeRecord(pub map[string]any, m recordMeta) ([]byte, error) {
	rec := make(map[string]any, len(pub)+6)
	for k, v := range pub {
		if k != "id" {
			rec[k] = v
		}
	}
	rec["_id"] = m.ID
	rec["_rev"] = m.Rev
	rec["pvt_type"] = m.Type
	rec["pvt_created"] = m.Created
	rec["pvt_modified"] = m.Modified
	if m.AccountID != "" {
		rec["pvt_account_id"] = m.AccountID
	}
	return json.Marshal(rec)
}

// decodeRecord splits a stored record into the public document (with "id")
// and its private metadata.
func decodeRecord(raw []byte) (map[string]any, recordMeta, error) {
	var rec map[string]any
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, recordMeta{}, err
	}
	var m recordMeta
	m.ID, _ = rec["_id"].(string)
	m.Rev, _ = rec["_rev"].(string)
	m.Type, _ = rec["pvt_type"].(string)
	m.AccountID, _ = rec["pvt_account_id"].(string)
	if f, ok := rec["pvt_created"].(float64); ok {
		m.Created = int64(f)
	}
	if f, ok := rec["pvt_modified"].(float64); ok {
		m.Modified = int64(f)
	}
	if m.ID == "" {
		return nil, m, errors.New("record without _id")
	}
	for k := range rec {
		if isPrivateKey(k) {
			delete(rec, k)
		}
	}
	rec["id"] = m.ID
	return rec, m, nil
}
