package tenancy

import (
	"errors"
	"os"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndex watches a SQLite database's WAL-index header, at the start of
// its "-shm" file: shared memory that every connection to the database, in
// any process, maps, and that a writer updates as the last step of every
// commit, before readers can see it (https://www.sqlite.org/walformat.html,
// section 2.1). The header's change counter (iChange) goes up with every
// transaction, its frame count and checksums with every commit: while the
// header is the same, nothing has been committed, so a read of the news
// counters would find them as the last read did.
//
// Reading it is a few loads from memory, where a read of the counters is a
// statement that takes and gives back the file's read lock (fcntl): a
// twentieth of a kept page's CPU.
type walIndex struct {
	mem []byte
}

// walHeaderWords is the header's size in 32-bit words: 48 bytes, written
// twice, one copy after the other (a reader that finds them different has
// caught a writer between the two).
const walHeaderWords = 12

// walStamp is one copy of the header, as it was at a moment: any commit
// changes it.
type walStamp [walHeaderWords]uint32

// walBackfillWord is where nBackfill is, in 32-bit words: the first field
// after the header's two copies, how many of the WAL's frames checkpoints
// have copied into the database.
const walBackfillWord = 2 * walHeaderWords

// openWALIndex maps the header of the database at path, whose WAL index
// an open connection of this process already holds: SQLite resets the
// file only when it is the only connection to it, so the mapping stays
// valid while the connection is open.
func openWALIndex(path string) (*walIndex, error) {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := (walBackfillWord + 1) * 4
	if info.Size() < int64(size) {
		return nil, errors.New("the WAL index has no header yet")
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	return &walIndex{mem: mem}, nil
}

// stamp reads the header; ok is false when it cannot be trusted (a writer
// between its two copies, a header not yet written, a mapping that fails).
func (w *walIndex) stamp() (walStamp, bool) {
	s, _, ok := w.read()
	return s, ok
}

// backlog is how many of the WAL's frames no checkpoint has copied into the
// database yet; ok as stamp's.
func (w *walIndex) backlog() (frames uint32, ok bool) {
	s, backfilled, ok := w.read()
	// Past a checkpoint of everything, the WAL keeps its frames until the
	// next commit starts it over: none of them is owed.
	if !ok || backfilled >= s.frames() {
		return 0, ok
	}
	return s.frames() - backfilled, true
}

// read reads the header (as stamp) and nBackfill.
func (w *walIndex) read() (s walStamp, backfilled uint32, ok bool) {
	// A mapping whose file was cut short faults on reading: say so
	// rather than crash the server.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	// In SQLite's order: the first copy, then the second, which writers
	// write first.
	var second walStamp
	for i := range walHeaderWords {
		s[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[4*i])))
	}
	for i := range walHeaderWords {
		second[i] = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[4*(walHeaderWords+i)])))
	}
	backfilled = atomic.LoadUint32((*uint32)(unsafe.Pointer(&w.mem[4*walBackfillWord])))
	// isInit, the thirteenth byte, is set once the header has been written.
	isInit := (*[4 * walHeaderWords]byte)(unsafe.Pointer(&s))[12] != 0
	return s, backfilled, s == second && isInit
}

// frames is how many frames the WAL holds (mxFrame), from a stamp.
func (s walStamp) frames() uint32 { return s[4] }

// close unmaps the header.
func (w *walIndex) close() error {
	return syscall.Munmap(w.mem)
}
