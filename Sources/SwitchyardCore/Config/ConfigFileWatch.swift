/// When a watched config file should be reloaded, as a pure state machine: the watcher reports what it sees of
/// the file each poll and reloads when told. A change is acted on once the file has looked the same for two polls
/// in a row, so an editor's several writes (or a delete and a rename) make one reload, after the last of them.
public struct ConfigFileWatch: Sendable {
    /// What a poll sees of the file: nil when it is missing.
    public struct Signature: Sendable, Equatable {
        public var modified: Int
        public var size: Int
        public var device: UInt64
        public var inode: UInt64

        public init(modifiedNanoseconds: Int, size: Int, device: UInt64, inode: UInt64) {
            self.modified = modifiedNanoseconds
            self.size = size
            self.device = device
            self.inode = inode
        }
    }

    /// The file as last acted on (or as it was at the start).
    private var settled: Signature?
    /// A change seen once, waiting to look the same again.
    private var changed: Signature??

    public init(initial: Signature?) {
        settled = initial
    }

    /// Takes one poll's view of the file; true when the config should be reloaded now.
    public mutating func observe(_ signature: Signature?) -> Bool {
        guard signature != settled else {
            changed = nil
            return false
        }
        guard case .some(let pending) = changed, pending == signature else {
            changed = .some(signature)
            return false
        }
        settled = signature
        changed = nil
        return true
    }
}
