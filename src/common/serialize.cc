#include "common/serialize.h"

namespace liverec {

Status BinaryReader::ExpectHeader(uint32_t tag, uint32_t version, std::string_view what) {
  uint32_t got_tag = 0;
  uint32_t got_version = 0;
  LIVEREC_RETURN_IF_ERROR(Get(&got_tag));
  LIVEREC_RETURN_IF_ERROR(Get(&got_version));
  if (got_tag != tag) {
    return Corruption(std::string(what) + ": wrong type tag " + std::to_string(got_tag) +
                      ", expected " + std::to_string(tag));
  }
  if (got_version != version) {
    return Corruption(std::string(what) + ": unsupported format version " +
                      std::to_string(got_version) + ", this build reads " +
                      std::to_string(version));
  }
  return Status::Ok();
}

Status BinaryReader::Truncated(uint64_t wanted) const {
  return Corruption("truncated state: wanted " + std::to_string(wanted) + " bytes at offset " +
                    std::to_string(pos_) + ", " + std::to_string(in_.size() - pos_) + " left");
}

}  // namespace liverec
