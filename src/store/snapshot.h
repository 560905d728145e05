// Snapshot files: named opaque sections (model state, id maps, ...) stamped with the last applied
// event-log sequence number, written atomically and checked on every read. Bytes only: nothing
// here knows what a section holds. Full byte spec: docs/formats/snapshot.md.
//
// A snapshot directory holds files named `snapshot-<last applied seq, 20 digits>.snap`, all
// integers little-endian:
//
//   header    [0, 8)   magic "LRECSNAP"
//             [8, 12)  u32 format version (kSnapshotFormatVersion)
//             [12, 20) u64 last applied sequence number (equals the one in the file name)
//             [20, 28) u64 creation time, Unix milliseconds (an int64 in two's complement)
//             [28, 32) u32 number of sections (at most kMaxSnapshotSections)
//             [32, 36) u32 masked CRC32C of bytes [0, 32)
//   section   u32 name length (at most kMaxSnapshotSectionNameBytes), name bytes,
//             u64 payload length, u32 masked CRC32C of name ++ payload, payload bytes
//   footer    u64 total file length, u32 masked CRC32C of every byte before it, magic "LRECSEND"
//
// Sealed snapshots (format version kSealedSnapshotFormatVersion, written when the keyring has a
// current key) store each section's payload as its sealed envelope (store/sealing.h; the
// payload length counts the envelope), authenticated with the additional data u32 version,
// u64 last applied seq, u32 section index, u32 name length, name, u64 envelope length. Names
// stay plain: they are labels of the engine's own making. Plain snapshots (version 1) are read
// with or without keys: they were written before encryption was turned on.
//
// Recovery loads the newest valid snapshot (ReadNewestValidSnapshot) and replays the log after
// its last_applied_seq.
//
// Thread safety: free functions without shared state; a SnapshotWriter or SectionCollector is
// used by one thread at a time. At most one process or thread writes or
// deletes snapshots in a directory at a time (the engine's snapshot thread); reading concurrently
// with a write is safe (readers see a snapshot only once it is complete and renamed).
#ifndef LIVEREC_STORE_SNAPSHOT_H_
#define LIVEREC_STORE_SNAPSHOT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/serialize.h"
#include "liverec/status.h"
#include "store/sealing.h"

namespace liverec {

inline constexpr std::string_view kSnapshotMagic = "LRECSNAP";
inline constexpr std::string_view kSnapshotEndMagic = "LRECSEND";
// Readers reject any other version: a format change bumps it.
inline constexpr uint32_t kSnapshotFormatVersion = 1;
inline constexpr uint32_t kSealedSnapshotFormatVersion = 2;

inline constexpr size_t kSnapshotHeaderBytes = 36;
inline constexpr size_t kSnapshotVersionOffset = 8;
inline constexpr size_t kSnapshotSeqOffset = 12;
inline constexpr size_t kSnapshotCreatedOffset = 20;
inline constexpr size_t kSnapshotNumSectionsOffset = 28;
inline constexpr size_t kSnapshotHeaderCrcOffset = 32;
// u64 file length + u32 CRC + end magic.
inline constexpr size_t kSnapshotFooterBytes = 20;

// Section names are short labels ("popularity", "item_id_map"); the bound keeps a corrupt length
// from ever becoming a large allocation.
inline constexpr uint32_t kMaxSnapshotSectionNameBytes = 256;
// Far above any engine's number of models and maps, and bounds the work a corrupt count causes.
inline constexpr uint32_t kMaxSnapshotSections = 65536;

inline constexpr std::string_view kSnapshotPrefix = "snapshot-";
inline constexpr std::string_view kSnapshotSuffix = ".snap";
// A snapshot being written; readers ignore it, the next WriteSnapshot deletes it.
inline constexpr std::string_view kSnapshotTempSuffix = ".tmp";
inline constexpr size_t kSnapshotSeqDigits = 20;

// "snapshot-00000000000000000042.snap" for last_applied_seq 42.
std::string SnapshotFileName(uint64_t last_applied_seq);

// True iff `name` is exactly a snapshot file name (20 decimal digits, no directory); then sets
// *last_applied_seq.
bool ParseSnapshotFileName(std::string_view name, uint64_t* last_applied_seq);

// One named opaque section. Names are unique within a snapshot.
struct SnapshotSection {
  std::string name;
  std::string payload;
};

// Receives a state's sections one at a time, each produced by a callback that writes its payload:
// into memory (SectionCollector) or straight into a snapshot file (SnapshotWriter). Errors:
// InvalidArgument for a name longer than kMaxSnapshotSectionNameBytes, a repeated name or more
// than kMaxSnapshotSections sections; IOError naming the file and errno text. After an error,
// later Adds return it and write nothing.
class SectionSink {
 public:
  virtual Status Add(std::string_view name, const std::function<void(BinaryWriter*)>& write) = 0;

 protected:
  ~SectionSink() = default;
};

// Collects sections in memory, in the order added.
class SectionCollector final : public SectionSink {
 public:
  Status Add(std::string_view name, const std::function<void(BinaryWriter*)>& write) override;

  std::vector<SnapshotSection>& sections() { return sections_; }

 private:
  std::vector<SnapshotSection> sections_;
};

// Writes one snapshot as `dir/SnapshotFileName(last_applied_seq)`, a section at a time: each
// payload streams to the file through a buffer of BinaryWriter::kFlushBytes as its callback writes
// it, with its length and CRC filled in behind it and the whole-file CRC joined from the
// pieces' CRCs (Crc32cCombine), so that a state of gigabytes is written without a copy of it in
// memory and without reading it back. With `keys` holding a current key every section is sealed,
// and a sealed section is held in memory (with its envelope) while it is sealed: one at a time.
//
// Create first deletes any leftover `*.snap.tmp` of an earlier crashed write and opens
// `<final name>.tmp`; Commit writes the header and footer, fdatasyncs the file, renames it to the
// final name and fsyncs the directory: after a crash there is either no new snapshot or a
// complete one. A writer destroyed before Commit succeeded removes its temporary file.
class SnapshotWriter final : public SectionSink {
 public:
  // Errors: AlreadyExists if a snapshot with this seq exists (it is never overwritten); IOError
  // naming the directory or file and errno text.
  static StatusOr<std::unique_ptr<SnapshotWriter>> Create(const std::string& dir,
                                                          uint64_t last_applied_seq,
                                                          int64_t created_unix_ms,
                                                          const Keyring* keys = nullptr);
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  Status Add(std::string_view name, const std::function<void(BinaryWriter*)>& write) override;
  // Returns the first error of any Add instead, without writing.
  Status Commit();

  uint64_t last_applied_seq() const;
  // Bytes written so far (header and footer included once committed).
  uint64_t size_bytes() const;

 private:
  class File;
  explicit SnapshotWriter(std::unique_ptr<File> file);
  std::unique_ptr<File> file_;
};

// Writes a snapshot of `sections` (in this order) through a SnapshotWriter, creating `dir` (not
// its parent) if needed; nothing is written when a section is refused. Errors as Create and Add.
Status WriteSnapshot(const std::string& dir, uint64_t last_applied_seq, int64_t created_unix_ms,
                     std::span<const SnapshotSection> sections, const Keyring* keys = nullptr);

// A snapshot file as seen in a directory listing.
struct SnapshotInfo {
  uint64_t last_applied_seq = 0;  // from the file name
  // From the header if its magic, version and CRC check out, else 0. Not proof of validity.
  int64_t created_unix_ms = 0;
  std::string path;         // dir + "/" + name
  uint64_t size_bytes = 0;  // file size
};

// Returns the snapshot files of `dir`, newest (highest last_applied_seq) first, decided by file
// name alone: a listed file may still be corrupt (ReadSnapshot checks). Temporary files and
// other names are ignored. A missing `dir` lists as empty. IOError if it cannot be listed.
StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& dir);

// A snapshot read back into memory.
struct Snapshot {
  uint64_t last_applied_seq = 0;
  int64_t created_unix_ms = 0;
  std::vector<SnapshotSection> sections;  // in file order

  // The section named `name`, or null. Points into `sections`: valid until it changes.
  const SnapshotSection* Find(std::string_view name) const;
};

// Reads and fully checks the snapshot at `path`: magic, version, header CRC, every section's
// lengths and CRC, the footer's length (== file size), the whole-file CRC, the end magic, and that
// the header's seq equals the one in the file name. Never returns a section that failed a check.
// A sealed snapshot's sections are opened with `keys` (null: no keys) and returned as plaintext.
// Errors: InvalidArgument if the file name is not a snapshot name; Corruption naming the file,
// byte offset and what failed (an unknown version: "unsupported snapshot format version N"; a
// sealed section that fails: "section 3 'mf': authentication failed ..."); FailedPrecondition
// naming the file and section when its key is not in `keys` ("no key for key id 0x..."); IOError
// naming the file and errno text (NotFound-like errno included).
StatusOr<Snapshot> ReadSnapshot(const std::string& path, const Keyring* keys = nullptr);

// Reads the newest snapshot of `dir` that passes every check, trying older ones when newer ones
// are Corruption; each skipped file is appended to *skipped (may be null) as "path: reason" so
// that recovery can report it. NotFound if no valid snapshot exists (including a missing or empty
// `dir`): the caller then replays the whole log. IOError is returned at once (an unreadable file
// is not silently passed over), and so is FailedPrecondition (a missing key: older snapshots are
// not a remedy for a configuration error). Sealed sections are opened with `keys`.
StatusOr<Snapshot> ReadNewestValidSnapshot(const std::string& dir,
                                           std::vector<std::string>* skipped,
                                           const Keyring* keys = nullptr);

// Retention: deletes the snapshots of `dir` whose last_applied_seq is < seq, except the newest
// `keep_at_least` snapshots, which are always kept; then fsyncs the directory if it deleted any.
// Decides from file names alone. A missing `dir` is OK. Errors: IOError.
Status DeleteSnapshotsBefore(const std::string& dir, uint64_t seq, size_t keep_at_least);

}  // namespace liverec

#endif  // LIVEREC_STORE_SNAPSHOT_H_
