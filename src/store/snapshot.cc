#include "store/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>
#include <unordered_set>
#include <utility>

#include "store/crc32c.h"
#include "store/log_format.h"
#include "store/posix_file.h"
#include "store/sealing.h"

namespace liverec {
namespace {

// The write buffer of a snapshot file.
constexpr size_t kWriteBufferBytes = size_t{256} << 10;
constexpr mode_t kSnapshotFileMode = 0644;
constexpr mode_t kDirMode = 0755;
// Per section, besides name and payload: u32 name length, u64 payload length, u32 CRC.
constexpr size_t kSectionFixedBytes = 4 + 8 + 4;
constexpr size_t kFooterLengthOffset = 0;
constexpr size_t kFooterCrcOffset = 8;
constexpr size_t kFooterMagicOffset = 12;

std::string JoinPath(const std::string& dir, std::string_view name) {
  return (std::filesystem::path(dir) / std::string(name)).string();
}

// Reads exactly data[0, n): the size was taken from fstat before reading, so running out of
// bytes means the file changed under us.
Status ReadAll(int fd, char* data, size_t n, const std::string& path) {
  size_t got = 0;
  LIVEREC_RETURN_IF_ERROR(ReadUpTo(fd, data, n, path, &got));
  if (got < n) return IOError("read " + path + ": file shrank while being read");
  return Status::Ok();
}

// Reads a snapshot front to back, keeping the CRC32C of everything read so far, and knows the
// file size so that no length field is trusted before it is checked against it.
class SnapshotFileReader {
 public:
  SnapshotFileReader(int fd, const std::string& path, uint64_t file_size)
      : fd_(fd), path_(path), file_size_(file_size) {}

  Status Read(char* data, size_t n) {
    LIVEREC_RETURN_IF_ERROR(ReadAll(fd_, data, n, path_));
    crc_ = Crc32cExtend(crc_, data, n);
    offset_ += n;
    return Status::Ok();
  }

  Status CorruptionAt(uint64_t offset, std::string_view what) const {
    return Corruption(path_ + ": offset " + std::to_string(offset) + ": " + std::string(what));
  }

  // Bytes between the current offset and the footer (0 if the file is shorter than that).
  uint64_t BytesBeforeFooter() const {
    const uint64_t footer_start =
        file_size_ >= kSnapshotFooterBytes ? file_size_ - kSnapshotFooterBytes : 0;
    return footer_start > offset_ ? footer_start - offset_ : 0;
  }

  uint32_t crc() const { return crc_; }
  uint64_t offset() const { return offset_; }
  uint64_t file_size() const { return file_size_; }

 private:
  int fd_;
  const std::string& path_;
  uint64_t file_size_;
  uint32_t crc_ = Crc32c(nullptr, 0);
  uint64_t offset_ = 0;
};

// The additional data of a sealed section: the snapshot it belongs to, its place and name, and
// the length of its envelope, so that a section cannot be moved, renamed or cut without the
// tag failing (the key id follows, added by the sealing). u32 version, u64 last applied seq,
// u32 section index, u32 name length, name, u64 envelope length.
std::string SealedSectionAd(uint64_t last_applied_seq, uint32_t index, std::string_view name,
                            uint64_t envelope_bytes) {
  std::string ad(4 + 8 + 4 + 4 + name.size() + 8, '\0');
  char* p = ad.data();
  EncodeFixed<uint32_t>(p, kSealedSnapshotFormatVersion);
  EncodeFixed<uint64_t>(p + 4, last_applied_seq);
  EncodeFixed<uint32_t>(p + 12, index);
  EncodeFixed<uint32_t>(p + 16, static_cast<uint32_t>(name.size()));
  std::memcpy(p + 20, name.data(), name.size());
  EncodeFixed<uint64_t>(p + 20 + name.size(), envelope_bytes);
  return ad;
}

bool IsTempSnapshotName(std::string_view name) {
  uint64_t seq = 0;
  return name.ends_with(kSnapshotTempSuffix) &&
         ParseSnapshotFileName(name.substr(0, name.size() - kSnapshotTempSuffix.size()), &seq);
}

// Deletes every `snapshot-*.snap.tmp`: the remains of a write that crashed before its rename.
Status DeleteTempFiles(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return IOError("list " + dir + ": " + ec.message());
  std::vector<std::string> temp_paths;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (IsTempSnapshotName(it->path().filename().string())) {
      temp_paths.push_back(JoinPath(dir, it->path().filename().string()));
    }
  }
  if (ec) return IOError("list " + dir + ": " + ec.message());
  for (const std::string& path : temp_paths) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return ErrnoError("delete leftover", path, errno);
    }
  }
  return Status::Ok();
}

}  // namespace

std::string SnapshotFileName(uint64_t last_applied_seq) {
  const std::string digits = std::to_string(last_applied_seq);
  return std::string(kSnapshotPrefix) + std::string(kSnapshotSeqDigits - digits.size(), '0') +
         digits + std::string(kSnapshotSuffix);
}

bool ParseSnapshotFileName(std::string_view name, uint64_t* last_applied_seq) {
  if (name.size() != kSnapshotPrefix.size() + kSnapshotSeqDigits + kSnapshotSuffix.size() ||
      !name.starts_with(kSnapshotPrefix) || !name.ends_with(kSnapshotSuffix)) {
    return false;
  }
  uint64_t value = 0;
  for (char c : name.substr(kSnapshotPrefix.size(), kSnapshotSeqDigits)) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;  // beyond 2^64 - 1
    value = value * 10 + digit;
  }
  *last_applied_seq = value;
  return true;
}

const SnapshotSection* Snapshot::Find(std::string_view name) const {
  for (const SnapshotSection& section : sections) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

Status SectionCollector::Add(std::string_view name,
                             const std::function<void(BinaryWriter*)>& write) {
  BinaryWriter out;
  write(&out);
  sections_.push_back(SnapshotSection{std::string(name), out.Release()});
  return Status::Ok();
}

// The open temporary file of a SnapshotWriter. Bytes reach the file through a buffer; the body
// (everything after the header) is checksummed as it goes, except each section's length and
// CRC, which are known only after its payload: they are written as zeros, filled in afterwards
// (in the buffer, or with pwrite once flushed), and joined into the body's CRC with the payload's
// own CRC by Crc32cCombine. The header, which counts the sections, is filled in by Commit.
class SnapshotWriter::File final : public ByteSink {
 public:
  File(std::string dir, std::string final_path, ScopedFd dir_fd, ScopedFd fd,
       uint64_t last_applied_seq, int64_t created_unix_ms, std::unique_ptr<Sealer> sealer)
      : dir_(std::move(dir)),
        final_path_(std::move(final_path)),
        temp_path_(final_path_ + std::string(kSnapshotTempSuffix)),
        dir_fd_(std::move(dir_fd)),
        fd_(std::move(fd)),
        last_applied_seq_(last_applied_seq),
        created_unix_ms_(created_unix_ms),
        sealer_(std::move(sealer)) {
    Append(std::string(kSnapshotHeaderBytes, '\0'));
  }

  ~File() {
    if (!committed_) {
      ::unlink(temp_path_.c_str());  // best effort; the next Create deletes it otherwise
    }
  }

  // The payload of the section being added.
  void Write(std::string_view bytes) override {
    payload_crc_ = Crc32cExtend(payload_crc_, bytes.data(), bytes.size());
    section_crc_ = Crc32cExtend(section_crc_, bytes.data(), bytes.size());
    payload_bytes_ += bytes.size();
    Append(bytes);
  }

  Status Add(std::string_view name, const std::function<void(BinaryWriter*)>& write) {
    LIVEREC_RETURN_IF_ERROR(status_);
    LIVEREC_RETURN_IF_ERROR(CheckName(name));
    char name_length[4];
    EncodeFixed<uint32_t>(name_length, static_cast<uint32_t>(name.size()));
    AppendToBody({name_length, sizeof(name_length)});
    AppendToBody(name);
    const uint64_t fields_offset = offset_;
    Append(std::string_view("\0\0\0\0\0\0\0\0\0\0\0\0", kSectionFieldsBytes));
    payload_crc_ = Crc32c(nullptr, 0);
    section_crc_ = Crc32c(name.data(), name.size());
    payload_bytes_ = 0;
    if (sealer_ == nullptr) {
      BinaryWriter out(this);
      write(&out);
    } else {
      // The envelope is sealed in one piece: this section, and only this one, is in memory.
      std::string envelope;
      {
        BinaryWriter plain;
        write(&plain);
        sealer_->Seal(SealedSectionAd(last_applied_seq_, num_sections_, name,
                                      plain.data().size() + kSealOverheadBytes),
                      plain.data(), &envelope);
      }
      Write(envelope);
    }
    char fields[kSectionFieldsBytes];
    EncodeFixed<uint64_t>(fields, payload_bytes_);
    EncodeFixed<uint32_t>(fields + 8, MaskCrc32c(section_crc_));
    Patch(fields_offset, {fields, sizeof(fields)});
    body_crc_ = Crc32cCombine(Crc32cExtend(body_crc_, fields, sizeof(fields)), payload_crc_,
                              payload_bytes_);
    body_bytes_ += sizeof(fields) + payload_bytes_;
    ++num_sections_;
    return status_;
  }

  Status Commit() {
    LIVEREC_RETURN_IF_ERROR(status_);
    char header[kSnapshotHeaderBytes];
    std::memcpy(header, kSnapshotMagic.data(), kSnapshotMagic.size());
    EncodeFixed<uint32_t>(header + kSnapshotVersionOffset, sealer_ != nullptr
                                                               ? kSealedSnapshotFormatVersion
                                                               : kSnapshotFormatVersion);
    EncodeFixed<uint64_t>(header + kSnapshotSeqOffset, last_applied_seq_);
    EncodeFixed<uint64_t>(header + kSnapshotCreatedOffset, static_cast<uint64_t>(created_unix_ms_));
    EncodeFixed<uint32_t>(header + kSnapshotNumSectionsOffset, num_sections_);
    EncodeFixed<uint32_t>(header + kSnapshotHeaderCrcOffset,
                          MaskCrc32c(Crc32c(header, kSnapshotHeaderCrcOffset)));
    Patch(0, {header, sizeof(header)});

    char footer[kSnapshotFooterBytes];
    EncodeFixed<uint64_t>(footer + kFooterLengthOffset, offset_ + kSnapshotFooterBytes);
    // The whole-file CRC covers the footer's own length field too.
    const uint32_t file_crc =
        Crc32cExtend(Crc32cCombine(Crc32c(header, sizeof(header)), body_crc_, body_bytes_), footer,
                     kFooterCrcOffset);
    EncodeFixed<uint32_t>(footer + kFooterCrcOffset, MaskCrc32c(file_crc));
    std::memcpy(footer + kFooterMagicOffset, kSnapshotEndMagic.data(), kSnapshotEndMagic.size());
    Append({footer, sizeof(footer)});
    Flush();
    LIVEREC_RETURN_IF_ERROR(status_);
    if (::fdatasync(fd_.get()) != 0) return ErrnoError("fdatasync", temp_path_, errno);
    LIVEREC_RETURN_IF_ERROR(fd_.Close(temp_path_));
    // Only a complete, synced file gets the final name; rename is atomic, so readers never see
    // a partial snapshot under it.
    if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
      return ErrnoError("rename " + temp_path_ + " to", final_path_, errno);
    }
    committed_ = true;
    // The new name is durable only once the directory is.
    LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd_.get(), dir_));
    return dir_fd_.Close(dir_);
  }

  uint64_t last_applied_seq() const { return last_applied_seq_; }
  uint64_t offset() const { return offset_; }

 private:
  // Per section, after its name: u64 payload length and u32 CRC.
  static constexpr size_t kSectionFieldsBytes = 8 + 4;

  Status CheckName(std::string_view name) {
    if (num_sections_ >= kMaxSnapshotSections) {
      status_ = InvalidArgument("snapshot has more than " + std::to_string(kMaxSnapshotSections) +
                                " sections");
    } else if (name.size() > kMaxSnapshotSectionNameBytes) {
      status_ = InvalidArgument("snapshot section " + std::to_string(num_sections_) + ": name of " +
                                std::to_string(name.size()) + " bytes, at most " +
                                std::to_string(kMaxSnapshotSectionNameBytes) + " allowed");
    } else if (!names_.emplace(name).second) {
      status_ = InvalidArgument("snapshot section " + std::to_string(num_sections_) +
                                ": repeated name '" + std::string(name) + "'");
    }
    return status_;
  }

  void AppendToBody(std::string_view data) {
    body_crc_ = Crc32cExtend(body_crc_, data.data(), data.size());
    body_bytes_ += data.size();
    Append(data);
  }

  // Small pieces (names, lengths) are gathered and written together; pieces at least as large
  // as the buffer are written straight from the caller's memory.
  void Append(std::string_view data) {
    offset_ += data.size();
    if (!status_.ok()) return;
    if (buffer_.size() + data.size() <= kWriteBufferBytes) {
      buffer_.append(data);
      return;
    }
    Flush();
    if (data.size() >= kWriteBufferBytes) {
      status_ = WriteAll(fd_.get(), data.data(), data.size(), temp_path_);
      flushed_ = offset_;
    } else {
      buffer_.append(data);
    }
  }

  void Flush() {
    if (!status_.ok() || buffer_.empty()) return;
    status_ = WriteAll(fd_.get(), buffer_.data(), buffer_.size(), temp_path_);
    flushed_ += buffer_.size();
    buffer_.clear();
  }

  // Overwrites bytes written earlier: in the buffer while they are still there, else in the file.
  void Patch(uint64_t offset, std::string_view data) {
    if (!status_.ok()) return;
    if (offset >= flushed_) {
      std::memcpy(buffer_.data() + (offset - flushed_), data.data(), data.size());
      return;
    }
    status_ = WriteAllAt(fd_.get(), data.data(), data.size(), offset, temp_path_);
  }

  const std::string dir_;
  const std::string final_path_;
  const std::string temp_path_;
  ScopedFd dir_fd_;
  ScopedFd fd_;
  const uint64_t last_applied_seq_;
  const int64_t created_unix_ms_;
  std::unique_ptr<Sealer> sealer_;
  Status status_;
  bool committed_ = false;
  std::string buffer_;
  uint64_t offset_ = 0;   // bytes appended, buffered or not
  uint64_t flushed_ = 0;  // bytes written to the file: the buffer starts here
  uint32_t num_sections_ = 0;
  std::unordered_set<std::string> names_;
  uint32_t body_crc_ = Crc32c(nullptr, 0);
  uint64_t body_bytes_ = 0;
  // Of the section being added: its payload alone, and name ++ payload (the section's CRC).
  uint32_t payload_crc_ = 0;
  uint32_t section_crc_ = 0;
  uint64_t payload_bytes_ = 0;
};

SnapshotWriter::SnapshotWriter(std::unique_ptr<File> file) : file_(std::move(file)) {}
SnapshotWriter::~SnapshotWriter() = default;

StatusOr<std::unique_ptr<SnapshotWriter>> SnapshotWriter::Create(const std::string& dir,
                                                                 uint64_t last_applied_seq,
                                                                 int64_t created_unix_ms,
                                                                 const Keyring* keys) {
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) {
    return ErrnoError("create directory", dir, errno);
  }
  ScopedFd dir_fd(OpenDir(dir));
  if (dir_fd.get() < 0) return ErrnoError("open directory", dir, errno);
  LIVEREC_RETURN_IF_ERROR(DeleteTempFiles(dir));

  std::string final_path = JoinPath(dir, SnapshotFileName(last_applied_seq));
  struct stat st;
  if (::stat(final_path.c_str(), &st) == 0) {
    return AlreadyExists("snapshot " + final_path + " already exists");
  }
  if (errno != ENOENT) return ErrnoError("stat", final_path, errno);
  const std::string temp_path = final_path + std::string(kSnapshotTempSuffix);
  ScopedFd fd(
      ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, kSnapshotFileMode));
  if (fd.get() < 0) return ErrnoError("create", temp_path, errno);
  std::unique_ptr<Sealer> sealer;
  if (keys != nullptr && keys->current() != nullptr) {
    sealer = std::make_unique<Sealer>(*keys->current());
  }
  return std::unique_ptr<SnapshotWriter>(new SnapshotWriter(
      std::make_unique<File>(dir, std::move(final_path), std::move(dir_fd), std::move(fd),
                             last_applied_seq, created_unix_ms, std::move(sealer))));
}

Status SnapshotWriter::Add(std::string_view name, const std::function<void(BinaryWriter*)>& write) {
  return file_->Add(name, write);
}

Status SnapshotWriter::Commit() { return file_->Commit(); }

uint64_t SnapshotWriter::last_applied_seq() const { return file_->last_applied_seq(); }

uint64_t SnapshotWriter::size_bytes() const { return file_->offset(); }

Status WriteSnapshot(const std::string& dir, uint64_t last_applied_seq, int64_t created_unix_ms,
                     std::span<const SnapshotSection> sections, const Keyring* keys) {
  LIVEREC_ASSIGN_OR_RETURN(std::unique_ptr<SnapshotWriter> writer,
                           SnapshotWriter::Create(dir, last_applied_seq, created_unix_ms, keys));
  for (const SnapshotSection& section : sections) {
    LIVEREC_RETURN_IF_ERROR(writer->Add(section.name, [&section](BinaryWriter* out) {
      out->PutBytes(section.payload.data(), section.payload.size());
    }));
  }
  return writer->Commit();
}

StatusOr<std::vector<SnapshotInfo>> ListSnapshots(const std::string& dir) {
  std::vector<SnapshotInfo> infos;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return infos;
  if (ec) return IOError("list " + dir + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    SnapshotInfo info;
    const std::string name = it->path().filename().string();
    if (!ParseSnapshotFileName(name, &info.last_applied_seq)) continue;
    info.path = JoinPath(dir, name);
    infos.push_back(std::move(info));
  }
  if (ec) return IOError("list " + dir + ": " + ec.message());
  std::sort(infos.begin(), infos.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) {
    return a.last_applied_seq > b.last_applied_seq;
  });

  for (SnapshotInfo& info : infos) {
    ScopedFd fd(::open(info.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("open", info.path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", info.path, errno);
    info.size_bytes = static_cast<uint64_t>(st.st_size);
    if (info.size_bytes < kSnapshotHeaderBytes) continue;
    // The creation time is informational, so a damaged header just leaves it 0 here;
    // ReadSnapshot is where damage is reported.
    char header[kSnapshotHeaderBytes];
    LIVEREC_RETURN_IF_ERROR(ReadAll(fd.get(), header, sizeof(header), info.path));
    const bool header_ok =
        std::string_view(header, kSnapshotMagic.size()) == kSnapshotMagic &&
        (DecodeFixed<uint32_t>(header + kSnapshotVersionOffset) == kSnapshotFormatVersion ||
         DecodeFixed<uint32_t>(header + kSnapshotVersionOffset) == kSealedSnapshotFormatVersion) &&
        UnmaskCrc32c(DecodeFixed<uint32_t>(header + kSnapshotHeaderCrcOffset)) ==
            Crc32c(header, kSnapshotHeaderCrcOffset);
    if (header_ok) {
      info.created_unix_ms =
          static_cast<int64_t>(DecodeFixed<uint64_t>(header + kSnapshotCreatedOffset));
    }
  }
  return infos;
}

StatusOr<Snapshot> ReadSnapshot(const std::string& path, const Keyring* keys) {
  uint64_t name_seq = 0;
  const std::string file_name = std::filesystem::path(path).filename().string();
  if (!ParseSnapshotFileName(file_name, &name_seq)) {
    return InvalidArgument(path + ": not a snapshot file name (expected " + SnapshotFileName(0) +
                           " with the last applied seq)");
  }
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoError("open", path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("stat", path, errno);
  SnapshotFileReader reader(fd.get(), path, static_cast<uint64_t>(st.st_size));

  // Header. The version is checked before the CRC: a future version may lay the header out
  // differently, and its files deserve "unsupported version" rather than "bad CRC".
  if (reader.file_size() < kSnapshotHeaderBytes + kSnapshotFooterBytes) {
    return reader.CorruptionAt(reader.file_size(),
                               "file cut short: " + std::to_string(reader.file_size()) +
                                   " bytes, a snapshot has at least " +
                                   std::to_string(kSnapshotHeaderBytes + kSnapshotFooterBytes));
  }
  char header[kSnapshotHeaderBytes];
  LIVEREC_RETURN_IF_ERROR(reader.Read(header, sizeof(header)));
  if (std::string_view(header, kSnapshotMagic.size()) != kSnapshotMagic) {
    return reader.CorruptionAt(0, "bad snapshot magic");
  }
  const uint32_t version = DecodeFixed<uint32_t>(header + kSnapshotVersionOffset);
  if (version != kSnapshotFormatVersion && version != kSealedSnapshotFormatVersion) {
    return reader.CorruptionAt(kSnapshotVersionOffset,
                               "unsupported snapshot format version " + std::to_string(version));
  }
  const bool sealed = version == kSealedSnapshotFormatVersion;
  const Keyring no_keys;
  const Keyring& open_keys = keys != nullptr ? *keys : no_keys;
  if (UnmaskCrc32c(DecodeFixed<uint32_t>(header + kSnapshotHeaderCrcOffset)) !=
      Crc32c(header, kSnapshotHeaderCrcOffset)) {
    return reader.CorruptionAt(kSnapshotHeaderCrcOffset, "header CRC mismatch");
  }
  Snapshot snapshot;
  snapshot.last_applied_seq = DecodeFixed<uint64_t>(header + kSnapshotSeqOffset);
  snapshot.created_unix_ms =
      static_cast<int64_t>(DecodeFixed<uint64_t>(header + kSnapshotCreatedOffset));
  if (snapshot.last_applied_seq != name_seq) {
    return reader.CorruptionAt(
        kSnapshotSeqOffset, "header last applied seq " + std::to_string(snapshot.last_applied_seq) +
                                " differs from the file name's " + std::to_string(name_seq));
  }
  const uint32_t num_sections = DecodeFixed<uint32_t>(header + kSnapshotNumSectionsOffset);
  if (num_sections > kMaxSnapshotSections) {
    return reader.CorruptionAt(kSnapshotNumSectionsOffset,
                               std::to_string(num_sections) + " sections, at most " +
                                   std::to_string(kMaxSnapshotSections) + " allowed");
  }

  // Sections. Every length is checked against the bytes left before the footer before it is
  // used, so a damaged length can neither make us allocate wildly nor read into the footer.
  std::unordered_set<std::string> names;
  snapshot.sections.reserve(num_sections);
  for (uint32_t i = 0; i < num_sections; ++i) {
    const uint64_t section_start = reader.offset();
    const std::string where = "section " + std::to_string(i) + ": ";
    if (reader.BytesBeforeFooter() < kSectionFixedBytes) {
      return reader.CorruptionAt(section_start, where + "header runs past the end of the data");
    }
    char name_length_bytes[4];
    LIVEREC_RETURN_IF_ERROR(reader.Read(name_length_bytes, sizeof(name_length_bytes)));
    const uint32_t name_length = DecodeFixed<uint32_t>(name_length_bytes);
    if (name_length > kMaxSnapshotSectionNameBytes) {
      return reader.CorruptionAt(section_start, where + "name length " +
                                                    std::to_string(name_length) + " above " +
                                                    std::to_string(kMaxSnapshotSectionNameBytes));
    }
    if (reader.BytesBeforeFooter() < name_length + kSectionFixedBytes - sizeof(name_length_bytes)) {
      return reader.CorruptionAt(section_start, where + "name runs past the end of the data");
    }
    SnapshotSection section;
    section.name.resize(name_length);
    LIVEREC_RETURN_IF_ERROR(reader.Read(section.name.data(), name_length));
    char length_and_crc[8 + 4];
    const uint64_t length_offset = reader.offset();
    LIVEREC_RETURN_IF_ERROR(reader.Read(length_and_crc, sizeof(length_and_crc)));
    const uint64_t payload_length = DecodeFixed<uint64_t>(length_and_crc);
    if (payload_length > reader.BytesBeforeFooter()) {
      return reader.CorruptionAt(length_offset,
                                 where + "payload length " + std::to_string(payload_length) +
                                     " exceeds the " + std::to_string(reader.BytesBeforeFooter()) +
                                     " bytes left before the footer");
    }
    section.payload.resize(payload_length);
    LIVEREC_RETURN_IF_ERROR(reader.Read(section.payload.data(), payload_length));
    const uint32_t crc = Crc32cExtend(Crc32c(section.name.data(), section.name.size()),
                                      section.payload.data(), section.payload.size());
    if (UnmaskCrc32c(DecodeFixed<uint32_t>(length_and_crc + 8)) != crc) {
      return reader.CorruptionAt(section_start, where + "CRC mismatch");
    }
    if (!names.insert(section.name).second) {
      return reader.CorruptionAt(section_start, where + "repeated name '" + section.name + "'");
    }
    if (sealed) {
      std::string plaintext;
      const Status opened = OpenSealed(
          open_keys, SealedSectionAd(snapshot.last_applied_seq, i, section.name, payload_length),
          section.payload, &plaintext);
      if (!opened.ok()) {
        return Status(opened.code(), path + ": offset " + std::to_string(section_start) +
                                         ": section " + std::to_string(i) + " '" + section.name +
                                         "': " + opened.message());
      }
      section.payload = std::move(plaintext);
    }
    snapshot.sections.push_back(std::move(section));
  }

  // Footer.
  const uint64_t footer_start = reader.offset();
  if (footer_start + kSnapshotFooterBytes != reader.file_size()) {
    return reader.CorruptionAt(footer_start, std::to_string(reader.file_size() - footer_start) +
                                                 " bytes after the last section, the footer has " +
                                                 std::to_string(kSnapshotFooterBytes));
  }
  char footer[kSnapshotFooterBytes];
  LIVEREC_RETURN_IF_ERROR(reader.Read(footer, kFooterCrcOffset));
  const uint32_t file_crc = reader.crc();
  LIVEREC_RETURN_IF_ERROR(
      reader.Read(footer + kFooterCrcOffset, kSnapshotFooterBytes - kFooterCrcOffset));
  const uint64_t footer_length = DecodeFixed<uint64_t>(footer + kFooterLengthOffset);
  if (footer_length != reader.file_size()) {
    return reader.CorruptionAt(footer_start + kFooterLengthOffset,
                               "footer file length " + std::to_string(footer_length) +
                                   " differs from the file size " +
                                   std::to_string(reader.file_size()));
  }
  if (UnmaskCrc32c(DecodeFixed<uint32_t>(footer + kFooterCrcOffset)) != file_crc) {
    return reader.CorruptionAt(footer_start + kFooterCrcOffset, "whole-file CRC mismatch");
  }
  if (std::string_view(footer + kFooterMagicOffset, kSnapshotEndMagic.size()) !=
      kSnapshotEndMagic) {
    return reader.CorruptionAt(footer_start + kFooterMagicOffset, "bad end magic");
  }
  return snapshot;
}

StatusOr<Snapshot> ReadNewestValidSnapshot(const std::string& dir,
                                           std::vector<std::string>* skipped, const Keyring* keys) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> infos, ListSnapshots(dir));
  size_t num_corrupt = 0;
  for (const SnapshotInfo& info : infos) {
    StatusOr<Snapshot> snapshot = ReadSnapshot(info.path, keys);
    if (snapshot.ok()) return snapshot;
    if (snapshot.status().code() != StatusCode::kCorruption) return snapshot.status();
    ++num_corrupt;
    // The Corruption message already starts with the path.
    if (skipped != nullptr) skipped->push_back(snapshot.status().message());
  }
  return NotFound("no valid snapshot in " + dir + " (" + std::to_string(infos.size()) + " found, " +
                  std::to_string(num_corrupt) + " corrupt)");
}

Status DeleteSnapshotsBefore(const std::string& dir, uint64_t seq, size_t keep_at_least) {
  LIVEREC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> infos, ListSnapshots(dir));
  bool deleted_any = false;
  for (size_t i = keep_at_least; i < infos.size(); ++i) {
    if (infos[i].last_applied_seq >= seq) continue;
    if (::unlink(infos[i].path.c_str()) != 0) return ErrnoError("delete", infos[i].path, errno);
    deleted_any = true;
  }
  if (!deleted_any) return Status::Ok();
  ScopedFd dir_fd(OpenDir(dir));
  if (dir_fd.get() < 0) return ErrnoError("open directory", dir, errno);
  LIVEREC_RETURN_IF_ERROR(FsyncDir(dir_fd.get(), dir));
  return Status::Ok();
}

}  // namespace liverec
