#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit. Each client connection holds a descriptor and, while it forwards,
/// a backend connection holds another, so the common default soft limit of 1024 runs out at about
/// 500 busy clients — long before the CPU does. osp raises its soft limit to the hard limit at
/// start-up, as nginx (`worker_rlimit_nofile`) and haproxy do; the operator still sets the ceiling.
enum OpenFileLimit {
    /// Raises the soft limit to the hard one. Returns the soft limit before and after, or nil if
    /// the limits cannot be read.
    static func raiseToHardLimit() -> (before: UInt64, after: UInt64)? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(resource, &limit) == 0 else { return (before, before) }
        return (before, UInt64(limit.rlim_cur))
    }
}
