#include "common/serialize.h"

namespace liverec {

Status BinaryReader::ExpectHeader(uint32_t tag, uint32_t version, std::string_view what) {
  uint32_t got_version = 0;
  return ExpectHeader(tag, version, version, what, &got_version);
}

Status BinaryReader::ExpectHeader(uint32_t tag, uint32_t min_version, uint32_t max_version,
                                  std::string_view what, uint32_t* version) {
  uint32_t got_tag = 0;
  LIVEREC_RETURN_IF_ERROR(Get(&got_tag));
  LIVEREC_RETURN_IF_ERROR(Get(version));
  if (got_tag != tag) {
    return Corruption(std::string(what) + ": wrong type tag " + std::to_string(got_tag) +
                      ", expected " + std::to_string(tag));
  }
  if (*version < min_version || *version > max_version) {
    const std::string reads = min_version == max_version ? std::to_string(max_version)
                                                         : std::to_string(min_version) + " to " +
                                                               std::to_string(max_version);
    return Corruption(std::string(what) + ": unsupported format version " +
                      std::to_string(*version) + ", this build reads " + reads);
  }
  return Status::Ok();
}

Status BinaryReader::Truncated(uint64_t wanted) const {
  return Corruption("truncated state: wanted " + std::to_string(wanted) + " bytes at offset " +
                    std::to_string(pos_) + ", " + std::to_string(in_.size() - pos_) + " left");
}

}  // namespace liverec
