#include "tally/base/event.hpp"

namespace tally {

const char* device_name(Device device) {
    switch (device) {
        case Device::desktop:
            return "desktop";
        case Device::mobile:
            return "mobile";
        case Device::tablet:
            return "tablet";
    }
    return "desktop";  // unreachable for valid enum values; keeps -Wreturn-type quiet
}

}  // namespace tally
