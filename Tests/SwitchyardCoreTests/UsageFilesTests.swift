import Foundation
import Testing
@testable import SwitchyardCore

/// Usage counters on disk: file names, the seed-compatible format, and atomic, crash-safe replacement.
@Suite struct UsageFilesTests {
    let utc = TimeZone(identifier: "UTC")!
    let shanghai = TimeZone(identifier: "Asia/Shanghai")!
    let key = ProviderKey(model: "gpt-4o", provider: "provider-1")
    /// The `now` passed to `load`; only used when a file has no `last_reset`.
    let now = utcDate(2026, 5, 20, 9, 30)

    /// A fresh data directory for one test, removed afterwards.
    func withDataDirectory<Result>(_ body: (String) throws -> Result) throws -> Result {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-usage-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory.path)
    }

    /// Writes `contents` as the usage file of `key` (creating `usage/`).
    func writeUsageFile(_ contents: String, files: UsageFiles, key: ProviderKey? = nil) throws {
        try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: files.path(for: key ?? self.key)))
    }

    func fileText(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    func directoryNames(_ path: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path).sorted()
    }

    /// The counts of a file that should load.
    func loadUsage(_ contents: String, zone: TimeZone? = nil) throws -> UsageSnapshot? {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: zone ?? utc)
            try writeUsageFile(contents, files: files)
            guard case .usage(let usage) = files.load(key, now: now) else {
                Issue.record("expected \(contents) to load, got \(files.load(key, now: now))")
                return nil
            }
            return usage
        }
    }

    /// The reason a file that should not load is rejected with.
    func unreadableReason(_ contents: String) throws -> String? {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            try writeUsageFile(contents, files: files)
            let loaded = files.load(key, now: now)
            guard case .unreadable(let reason) = loaded else {
                Issue.record("expected \(contents) to be unreadable, got \(loaded)")
                return nil
            }
            #expect(reason.contains(files.path(for: key)), "the reason must name the file: \(reason)")
            // Loading never changes the file.
            #expect(fileText(files.path(for: key)) == contents)
            return reason
        }
    }

    // MARK: Names

    @Test func fileNamesAreSanitisedModelAndProviderNames() {
        #expect(UsageFiles.fileName(for: key) == "gpt-4o_provider-1.json")
        #expect(UsageFiles.fileName(for: ProviderKey(model: "Qwen2.5-72B", provider: "a.b_c")) == "Qwen2.5-72B_a.b_c.json")
        #expect(UsageFiles.fileName(for: ProviderKey(model: "org/model", provider: "my provider")) == "org_model_my_provider.json")
        #expect(UsageFiles.fileName(for: ProviderKey(model: "../etc", provider: "p")) == ".._etc_p.json")
        #expect(UsageFiles.fileName(for: ProviderKey(model: "模型", provider: "\u{E9}")) == "____.json")
        #expect(UsageFiles.fileName(for: ProviderKey(model: "a:b", provider: "c\\d*?")) == "a_b_c_d__.json")
    }

    @Test func pathsLiveUnderTheUsageDirectory() {
        let files = UsageFiles(dataDirectory: "/var/lib/switchyard", timeZone: utc)
        #expect(files.directory == "/var/lib/switchyard/usage")
        #expect(files.path(for: key) == "/var/lib/switchyard/usage/gpt-4o_provider-1.json")
        // A name can never leave the directory.
        #expect(files.path(for: ProviderKey(model: "../../x", provider: "/y")) == "/var/lib/switchyard/usage/.._.._x__y.json")
    }

    // MARK: Saving

    @Test func saveThenLoadRoundTrips() throws {
        try withDataDirectory { directory in
            for zone in [utc, shanghai, TimeZone(identifier: "America/New_York")!] {
                let files = UsageFiles(dataDirectory: directory, timeZone: zone)
                let usage = UsageSnapshot(requests: 42, tokens: 15680, estimatedTokens: 31, lastReset: utcDate(2026, 1, 4, 16))
                try files.save(usage, for: key)
                #expect(files.load(key, now: now) == .usage(usage), "zone \(zone.identifier)")
                // Any zone reads the file back to the same instant.
                let other = UsageFiles(dataDirectory: directory, timeZone: utc)
                #expect(other.load(key, now: now) == .usage(usage))
            }
            let zero = UsageSnapshot(lastReset: utcDate(2026, 1, 1))
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            try files.save(zero, for: key)
            #expect(files.load(key, now: now) == .usage(zero))
        }
    }

    @Test func savedFileIsTheSeedFormatWithTheZoneOffset() throws {
        try withDataDirectory { directory in
            let usage = UsageSnapshot(requests: 42, tokens: 15680, estimatedTokens: 7, lastReset: utcDate(2026, 1, 4, 16))

            let shanghaiFiles = UsageFiles(dataDirectory: directory, timeZone: shanghai)
            try shanghaiFiles.save(usage, for: key)
            #expect(
                fileText(shanghaiFiles.path(for: key))
                    == #"{"requests":42,"tokens":15680,"estimated_tokens":7,"last_reset":"2026-01-05T00:00:00+08:00"}"# + "\n"
            )

            let utcFiles = UsageFiles(dataDirectory: directory, timeZone: utc)
            try utcFiles.save(usage, for: key)
            #expect(
                fileText(utcFiles.path(for: key))
                    == #"{"requests":42,"tokens":15680,"estimated_tokens":7,"last_reset":"2026-01-04T16:00:00+00:00"}"# + "\n"
            )

            let kolkata = UsageFiles(dataDirectory: directory, timeZone: TimeZone(identifier: "Asia/Kolkata")!)
            #expect(kolkata.format(utcDate(2026, 1, 4, 16)) == "2026-01-04T21:30:00+05:30")
            let newYork = UsageFiles(dataDirectory: directory, timeZone: TimeZone(identifier: "America/New_York")!)
            #expect(newYork.format(utcDate(2026, 1, 4, 16)) == "2026-01-04T11:00:00-05:00")
            #expect(newYork.format(utcDate(2026, 7, 4, 16)) == "2026-07-04T12:00:00-04:00", "daylight saving offset")

            // Only the usage file is there: no temporary files are left behind.
            #expect(try directoryNames(utcFiles.directory) == ["gpt-4o_provider-1.json"])
        }
    }

    // MARK: Loading

    @Test func missingFileIsMissing() throws {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            #expect(files.load(key, now: now) == .missing)  // no usage directory at all
            try FileManager.default.createDirectory(atPath: files.directory, withIntermediateDirectories: true)
            #expect(files.load(key, now: now) == .missing)
        }
    }

    @Test func seedFileWithEmptyLastResetLoadsWithNow() throws {
        let usage = try loadUsage(#"{"requests": 42, "tokens": 15680, "last_reset": ""}"#)
        #expect(usage == UsageSnapshot(requests: 42, tokens: 15680, estimatedTokens: 0, lastReset: now))
        let absent = try loadUsage(#"{"requests": 1, "tokens": 2}"#)
        #expect(absent == UsageSnapshot(requests: 1, tokens: 2, lastReset: now))
        let null = try loadUsage(#"{"requests": 1, "tokens": 2, "last_reset": null}"#)
        #expect(null == UsageSnapshot(requests: 1, tokens: 2, lastReset: now))
        let pretty = try loadUsage("{\n  \"requests\": 0,\n  \"tokens\": 0,\n  \"last_reset\": \"\"\n}\n")
        #expect(pretty == UsageSnapshot(lastReset: now))
    }

    @Test func naiveSeedTimestampsAreReadInTheConfiguredZone() throws {
        let naive = #"{"requests": 3, "tokens": 30, "last_reset": "2024-01-15T00:00:00"}"#
        #expect(try loadUsage(naive, zone: shanghai)?.lastReset == utcDate(2024, 1, 14, 16))
        #expect(try loadUsage(naive, zone: utc)?.lastReset == utcDate(2024, 1, 15))
        #expect(
            try loadUsage(naive, zone: TimeZone(identifier: "America/New_York")!)?.lastReset == utcDate(2024, 1, 15, 5)
        )

        // Python's datetime.isoformat() with microseconds.
        let micro = #"{"requests": 3, "tokens": 30, "last_reset": "2024-01-15T00:00:00.123456"}"#
        let shanghaiMicro = try #require(try loadUsage(micro, zone: shanghai)?.lastReset)
        let expected = utcDate(2024, 1, 14, 16).addingTimeInterval(0.123456)
        #expect(abs(shanghaiMicro.timeIntervalSince(expected)) < 0.001, "got \(iso(shanghaiMicro))")
        let utcMicro = try #require(try loadUsage(micro, zone: utc)?.lastReset)
        #expect(abs(utcMicro.timeIntervalSince(utcDate(2024, 1, 15).addingTimeInterval(0.123456))) < 0.001)
    }

    @Test func timestampsWithAnOffsetIgnoreTheConfiguredZone() throws {
        let cases: [(String, Date)] = [
            ("2024-01-15T00:00:00Z", utcDate(2024, 1, 15)),
            ("2024-01-15T00:00:00+00:00", utcDate(2024, 1, 15)),
            ("2024-01-15T08:00:00+08:00", utcDate(2024, 1, 15)),
            ("2024-01-14T19:00:00-05:00", utcDate(2024, 1, 15)),
            ("2024-01-15T00:00:00.500Z", utcDate(2024, 1, 15).addingTimeInterval(0.5)),
            ("2024-01-15T08:00:00.250+08:00", utcDate(2024, 1, 15).addingTimeInterval(0.25)),
        ]
        for (text, expected) in cases {
            for zone in [utc, shanghai] {
                let loaded = try loadUsage(#"{"requests":1,"tokens":2,"last_reset":"\#(text)"}"#, zone: zone)
                let date = try #require(loaded?.lastReset)
                #expect(abs(date.timeIntervalSince(expected)) < 0.001, "\(text) in \(zone.identifier) gave \(iso(date))")
            }
        }
    }

    @Test func estimatedTokensAreRead() throws {
        let usage = try loadUsage(#"{"requests":5,"tokens":500,"estimated_tokens":120,"last_reset":"2026-01-01T00:00:00+00:00"}"#)
        #expect(usage == UsageSnapshot(requests: 5, tokens: 500, estimatedTokens: 120, lastReset: utcDate(2026, 1, 1)))
    }

    @Test func unusableFilesAreUnreadableWithAReasonNamingTheFile() throws {
        #expect(try unreadableReason("")?.contains("not a JSON object") == true)
        #expect(try unreadableReason("garbage")?.contains("not a JSON object") == true)
        #expect(try unreadableReason(#"{"requests": 4"#)?.contains("not a JSON object") == true)  // cut short
        #expect(try unreadableReason("[1, 2, 3]")?.contains("not a JSON object") == true)
        #expect(try unreadableReason("42") != nil)
        #expect(try unreadableReason(#""text""#) != nil)

        #expect(try unreadableReason(#"{"requests": -1, "tokens": 0, "last_reset": ""}"#)?.contains("whole numbers") == true)
        #expect(try unreadableReason(#"{"requests": 1, "tokens": -5, "last_reset": ""}"#) != nil)
        #expect(try unreadableReason(#"{"requests": 1.5, "tokens": 0, "last_reset": ""}"#)?.contains("whole numbers") == true)
        #expect(try unreadableReason(#"{"requests": 1, "tokens": 0.25, "last_reset": ""}"#) != nil)
        #expect(try unreadableReason(#"{"requests": 1, "tokens": 2, "estimated_tokens": -3, "last_reset": ""}"#) != nil)
        #expect(try unreadableReason(#"{"requests": "42", "tokens": 0, "last_reset": ""}"#) != nil)
        #expect(try unreadableReason(#"{"requests": null, "tokens": 0, "last_reset": ""}"#) != nil)

        let badDate = try unreadableReason(#"{"requests": 1, "tokens": 2, "last_reset": "yesterday"}"#)
        #expect(badDate?.contains("last_reset") == true)
        #expect(badDate?.contains("yesterday") == true)
        #expect(try unreadableReason(#"{"requests": 1, "tokens": 2, "last_reset": "2024-13-45T99:00:00"}"#) != nil)
        // A number is not a timestamp this format ever had; it is not silently replaced by `now`.
        #expect(try unreadableReason(#"{"requests": 1, "tokens": 2, "last_reset": 1705276800}"#)?.contains("last_reset") == true)
        #expect(try unreadableReason(#"{"requests": 1, "tokens": 2, "last_reset": {"at": "x"}}"#) != nil)
    }

    @Test func aDirectoryWhereTheFileShouldBeIsUnreadable() throws {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            try FileManager.default.createDirectory(atPath: files.path(for: key), withIntermediateDirectories: true)
            guard case .unreadable(let reason) = files.load(key, now: now) else {
                Issue.record("expected unreadable")
                return
            }
            #expect(reason.contains(files.path(for: key)))
        }
    }

    // MARK: Crash safety

    @Test func aLeftoverTemporaryFileDoesNotAffectLoadingAndIsRemoved() throws {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            let good = UsageSnapshot(requests: 9, tokens: 900, estimatedTokens: 0, lastReset: utcDate(2026, 2, 1))
            try files.save(good, for: key)
            let goodText = fileText(files.path(for: key))

            // What a crash in the middle of writeAtomically leaves: a partial temporary file beside the good one.
            let leftover = ".gpt-4o_provider-1.json.tmp-4242-123456789"
            #expect(!leftover.hasSuffix(".json"))
            let leftoverPath = (files.directory as NSString).appendingPathComponent(leftover)
            try Data(#"{"requests":0,"tok"#.utf8).write(to: URL(fileURLWithPath: leftoverPath))
            // Another provider's leftover, complete this time, must not be mistaken for its usage file either.
            let other = ProviderKey(model: "gpt-4o", provider: "provider-2")
            let otherLeftover = (files.directory as NSString).appendingPathComponent(".gpt-4o_provider-2.json.tmp-1-2")
            try Data(#"{"requests":5,"tokens":5,"last_reset":""}"#.utf8).write(to: URL(fileURLWithPath: otherLeftover))

            #expect(files.load(key, now: now) == .usage(good))
            #expect(files.load(other, now: now) == .missing)

            // An unrelated file and a dot-file that is not a temporary file are not touched.
            let notes = (files.directory as NSString).appendingPathComponent("README.txt")
            try Data("notes".utf8).write(to: URL(fileURLWithPath: notes))
            let hidden = (files.directory as NSString).appendingPathComponent(".keep")
            try Data().write(to: URL(fileURLWithPath: hidden))

            files.removeLeftovers()
            #expect(try directoryNames(files.directory) == [".keep", "README.txt", "gpt-4o_provider-1.json"])
            #expect(fileText(files.path(for: key)) == goodText)
            #expect(files.load(key, now: now) == .usage(good))
        }
    }

    @Test func removeLeftoversWithoutADirectoryDoesNothing() throws {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: utc)
            files.removeLeftovers()
            #expect(!FileManager.default.fileExists(atPath: files.directory))
        }
    }

    @Test func writeAtomicallyReplacesTheWholeFileAndLeavesNoTemporaryFiles() throws {
        try withDataDirectory { directory in
            let path = (directory as NSString).appendingPathComponent("nested/dir/counter.json")
            let long = String(repeating: "x", count: 10_000) + "\n"
            try UsageFiles.writeAtomically(bytes(long), to: path)
            #expect(fileText(path) == long)

            try UsageFiles.writeAtomically(bytes("short\n"), to: path)
            #expect(FileManager.default.contents(atPath: path) == Data("short\n".utf8), "no tail of the longer content")

            try UsageFiles.writeAtomically([], to: path)
            #expect(FileManager.default.contents(atPath: path) == Data())

            let parent = (path as NSString).deletingLastPathComponent
            #expect(try directoryNames(parent) == ["counter.json"])
        }
    }

    @Test func manySavesLeaveOnlyTheLastContent() throws {
        try withDataDirectory { directory in
            let files = UsageFiles(dataDirectory: directory, timeZone: shanghai)
            var last = UsageSnapshot(lastReset: utcDate(2026, 1, 1))
            for step in stride(from: 1000, through: 0, by: -100) {
                last = UsageSnapshot(requests: step, tokens: step * 1000, estimatedTokens: step, lastReset: utcDate(2026, 1, 1))
                try files.save(last, for: key)
            }
            #expect(files.load(key, now: now) == .usage(last))
            #expect(
                fileText(files.path(for: key))
                    == #"{"requests":0,"tokens":0,"estimated_tokens":0,"last_reset":"2026-01-01T08:00:00+08:00"}"# + "\n"
            )
            #expect(try directoryNames(files.directory) == ["gpt-4o_provider-1.json"])
        }
    }

    @Test func writeAtomicallyFailsWithoutTouchingTheOldFileWhenTheTargetCannotBeReplaced() throws {
        try withDataDirectory { directory in
            // The target is a non-empty directory, so the rename fails; the temporary file must be cleaned up.
            let path = (directory as NSString).appendingPathComponent("target.json")
            try FileManager.default.createDirectory(atPath: path + "/inside", withIntermediateDirectories: true)
            #expect(throws: UsageFileError.self) { try UsageFiles.writeAtomically(bytes("{}\n"), to: path) }
            #expect(try directoryNames(directory) == ["target.json"])
        }
    }
}
