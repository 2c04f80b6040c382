import Testing
@testable import SwitchyardCore

/// When a watched config file is reloaded: once a change has settled, once per change.
@Suite struct ConfigFileWatchTests {
    func file(_ modified: Int, size: Int = 100, inode: UInt64 = 1) -> ConfigFileWatch.Signature {
        ConfigFileWatch.Signature(modifiedNanoseconds: modified, size: size, device: 1, inode: inode)
    }

    @Test func aChangeIsReloadedOnceItLooksTheSameForTwoPolls() {
        var watch = ConfigFileWatch(initial: file(1))
        #expect(watch.observe(file(1)) == false)
        #expect(watch.observe(file(2)) == false, "just changed: it may still be being written")
        #expect(watch.observe(file(2)) == true)
        #expect(watch.observe(file(2)) == false, "one reload per change")
    }

    @Test func aBurstOfWritesMakesOneReloadAfterTheLast() {
        var watch = ConfigFileWatch(initial: file(1))
        let seen = [file(2, size: 10), file(3, size: 50), file(4, size: 120), file(4, size: 120), file(4, size: 120)].map { watch.observe($0) }
        #expect(seen == [false, false, false, true, false])
    }

    @Test func aFileReplacedByRenameOrBrieflyMissingIsHandled() {
        var watch = ConfigFileWatch(initial: file(1))
        #expect(watch.observe(nil) == false)
        #expect(watch.observe(file(1, inode: 2)) == false, "back, as a new file")
        #expect(watch.observe(file(1, inode: 2)) == true)
        #expect(watch.observe(nil) == false)
        #expect(watch.observe(nil) == true, "a file that stays missing is acted on once (the reload reports it)")
        #expect(watch.observe(nil) == false)
        #expect(watch.observe(file(1, inode: 2)) == false)
        #expect(watch.observe(file(1, inode: 2)) == true)
    }

    @Test func aChangeThatIsUndoneBeforeItSettlesIsNotReloaded() {
        var watch = ConfigFileWatch(initial: file(1))
        #expect(watch.observe(file(2)) == false)
        #expect(watch.observe(file(1)) == false)
        #expect(watch.observe(file(1)) == false)
    }
}
