import Foundation
import NIOConcurrencyHelpers
import Testing
@testable import SwitchyardCore

/// What a store reported, in order.
private final class ProblemLog: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    var all: [String] { lines.withLockedValue { $0 } }

    func add(_ line: String) { lines.withLockedValue { $0.append(line) } }
}

@Suite("Response store") struct ResponseStoreTests {
    let start = utcDate(2026, 3, 1, 12)
    let day: TimeInterval = 86_400

    func response(
        _ id: String, owner: String = "key-a", session: String? = "sess_1", createdAt: Date? = nil,
        input: String = #"[{"role":"user","content":"Hi"}]"#, output: String = #"[]"#
    ) -> StoredResponse {
        StoredResponse(
            id: id, owner: owner, provider: "openai-main", model: "gpt-4o", sessionID: session,
            createdAt: createdAt ?? start, input: bytes(input),
            response: bytes(#"{"id":"\#(id)","object":"response","status":"completed","output":\#(output)}"#))
    }

    /// A fresh directory for one test, removed afterwards.
    func withDirectory(_ body: (String) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-response-store-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory.path)
    }

    /// The directory's file names, sorted.
    func names(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    func write(_ contents: String, named name: String, in directory: String) throws {
        try Data(contents.utf8).write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name)))
    }

    func memoryStore(_ limits: ResponseStoreLimits = ResponseStoreLimits(), clock: ManualClock? = nil) -> ResponseStore {
        ResponseStore(directory: nil, limits: limits, clock: clock ?? ManualClock(start))
    }

    // MARK: - Memory

    @Test("a stored response is returned to its owner until it is deleted")
    func putGetDelete() {
        let store = memoryStore()
        let stored = response("resp_1")
        store.put(stored)
        #expect(store.get("resp_1", owner: "key-a") == stored)
        #expect(store.count == 1)
        #expect(store.byteCount == stored.byteCount)
        #expect(store.delete("resp_1", owner: "key-a"))
        #expect(store.get("resp_1", owner: "key-a") == nil)
        #expect(!store.delete("resp_1", owner: "key-a"))
        #expect(store.count == 0 && store.byteCount == 0)
    }

    @Test("another key's response can be neither read nor deleted")
    func ownerIsolation() {
        let store = memoryStore()
        store.put(response("resp_1", owner: "key-a"))
        #expect(store.get("resp_1", owner: "key-b") == nil)
        #expect(store.get("resp_1", owner: "") == nil)
        #expect(!store.delete("resp_1", owner: "key-b"))
        #expect(store.get("resp_1", owner: "key-a") != nil)
    }

    @Test("a response is gone once it is as old as the time to live")
    func timeToLive() {
        let clock = ManualClock(start)
        let store = memoryStore(ResponseStoreLimits(timeToLive: 2 * day), clock: clock)
        store.put(response("resp_old"))
        clock.advance(by: day)
        store.put(response("resp_new", createdAt: clock.now()))
        clock.advance(by: day - 1)
        #expect(store.get("resp_old", owner: "key-a") != nil)
        clock.advance(by: 1)
        #expect(store.get("resp_old", owner: "key-a") == nil)
        #expect(store.count == 1)
        clock.advance(by: day)
        #expect(store.count == 0)
        #expect(!store.delete("resp_new", owner: "key-a"))
    }

    @Test("over the count limit the oldest by creation time goes, whatever the order of puts")
    func countLimit() {
        let store = memoryStore(ResponseStoreLimits(maximumCount: 2))
        store.put(response("resp_b", createdAt: start + 20))
        store.put(response("resp_a", createdAt: start + 10))
        store.put(response("resp_c", createdAt: start + 30))
        #expect(store.count == 2)
        #expect(store.get("resp_a", owner: "key-a") == nil)
        #expect(store.get("resp_b", owner: "key-a") != nil)
        #expect(store.get("resp_c", owner: "key-a") != nil)
        // An older one than every stored response is pushed out at once.
        store.put(response("resp_0", createdAt: start))
        #expect(store.get("resp_0", owner: "key-a") == nil)
        #expect(store.count == 2)
    }

    @Test("over the byte limit the oldest go until the rest fits")
    func byteLimit() {
        let size = response("resp_1").byteCount
        let store = memoryStore(ResponseStoreLimits(maximumBytes: 3 * size + size / 2))
        for index in 1...5 { store.put(response("resp_\(index)", createdAt: start + Double(index))) }
        #expect(store.count == 3)
        #expect(store.byteCount == 3 * size)
        #expect((1...5).map { store.get("resp_\($0)", owner: "key-a") != nil } == [false, false, true, true, true])
    }

    @Test("a response larger than the byte limit is not stored, and the one of its id is gone")
    func tooLarge() {
        let small = response("resp_1")
        let store = memoryStore(ResponseStoreLimits(maximumBytes: small.byteCount + 10))
        store.put(small)
        store.put(response("resp_2"))
        #expect(store.count == 1)
        store.put(response("resp_2", input: #"[{"role":"user","content":"a much longer question than the first"}]"#))
        #expect(store.get("resp_2", owner: "key-a") == nil)
        #expect(store.count == 0)
    }

    @Test("putting an id again replaces the response and counts its bytes once")
    func replace() {
        let store = memoryStore()
        store.put(response("resp_1"))
        let second = response("resp_1", input: #"[{"role":"user","content":"Hello again"}]"#)
        store.put(second)
        #expect(store.count == 1)
        #expect(store.byteCount == second.byteCount)
        #expect(store.get("resp_1", owner: "key-a") == second)
    }

    @Test("ids outside 1 to 200 of A-Z a-z 0-9 _ - are never stored or looked up")
    func invalidIDs() {
        let longest = String(repeating: "r", count: 200)
        for id in ["", "../resp_1", "resp.1", "resp 1", "resp/1", "résp", String(repeating: "r", count: 201)] {
            #expect(!StoredResponse.isValidID(id), "\(id)")
        }
        #expect(StoredResponse.isValidID(longest) && StoredResponse.isValidID("resp_AZaz09-_"))
        let store = memoryStore()
        store.put(response("../resp_1"))
        store.put(response(String(repeating: "r", count: 201)))
        store.put(response(longest))
        #expect(store.count == 1)
        #expect(store.get("../resp_1", owner: "key-a") == nil)
        #expect(!store.delete("../resp_1", owner: "key-a"))
        #expect(store.get(longest, owner: "key-a") != nil)
    }

    @Test("lower limits applied on a reload take effect at once")
    func applyLimits() {
        let store = memoryStore()
        for index in 1...4 { store.put(response("resp_\(index)", createdAt: start + Double(index))) }
        store.apply(limits: ResponseStoreLimits(maximumCount: 2))
        #expect(store.count == 2)
        #expect(store.get("resp_2", owner: "key-a") == nil && store.get("resp_3", owner: "key-a") != nil)
    }

    @Test("many replaced and deleted responses leave a store that still evicts in age order")
    func churn() {
        let store = memoryStore(ResponseStoreLimits(maximumCount: 50))
        for round in 0..<20 {
            for index in 0..<50 {
                store.put(response("resp_\(index)", createdAt: start + Double(round * 100 + index)))
                if index % 3 == 0 { store.delete("resp_\(index)", owner: "key-a") }
            }
        }
        #expect(store.count == 33)
        for index in 0..<20 { store.put(response("resp_new_\(index)", createdAt: start + 10_000 + Double(index))) }
        // The three oldest of the 33 survivors (resp_1, resp_2, resp_4 by creation time) made room.
        let survivors = (0..<50).filter { $0 % 3 != 0 }
        #expect(survivors.prefix(3).allSatisfy { store.get("resp_\($0)", owner: "key-a") == nil })
        #expect(survivors.dropFirst(3).allSatisfy { store.get("resp_\($0)", owner: "key-a") != nil })
        #expect(store.count == 50)
    }

    // MARK: - History

    @Test("history is the input items, then the response's output items, in order")
    func history() throws {
        let stored = response(
            "resp_1",
            input: #"[{"role":"system","content":"Be brief"},{"type":"message","role":"user","content":[{"type":"input_text","text":"Weather?"}]}]"#,
            output: #"[{"type":"function_call","call_id":"call_1","name":"weather","arguments":"{}"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Sunny"}]}]"#)
        let history = stored.history()
        #expect(history.count == 4)
        #expect(jsonEqual(history, [
            ["role": "system", "content": "Be brief"],
            ["type": "message", "role": "user", "content": [["type": "input_text", "text": "Weather?"]]],
            ["type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}"],
            ["type": "message", "role": "assistant", "content": [["type": "output_text", "text": "Sunny"]]],
        ]))
    }

    @Test("history skips what does not decode: a broken input, non-object items, a missing output")
    func historyOfMalformed() {
        var stored = response("resp_1", input: #"[{"role":"user","content":"Hi"}"#, output: #"[1,{"type":"message"}]"#)
        #expect(jsonEqual(stored.history(), [["type": "message"]]))
        stored.input = bytes(#"["text",{"role":"user","content":"Hi"}]"#)
        stored.response = bytes(#"{"id":"resp_1"}"#)
        #expect(jsonEqual(stored.history(), [["role": "user", "content": "Hi"]]))
    }

    // MARK: - Files

    @Test("a new store over the same directory has the responses, byte for byte")
    func persistence() throws {
        try withDirectory { directory in
            let first = ResponseStore(directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start))
            let one = response("resp_1", output: #"[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Tab\t\"quote\" ünï"}]}]"#)
            let two = response("resp_2", owner: "", session: nil, createdAt: start + 0.25)
            first.put(one)
            first.put(two)
            first.flush()
            #expect(names(directory) == ["resp_1.json", "resp_2.json"])
            let second = ResponseStore(directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start + 60))
            #expect(second.count == 2)
            #expect(second.get("resp_1", owner: "key-a") == one)
            #expect(second.get("resp_2", owner: "") == two)
            #expect(second.get("resp_1", owner: "key-b") == nil)
        }
    }

    @Test("a file is one JSON object with the documented keys; ISO-8601 creation times are read too")
    func fileFormat() throws {
        let stored = response("resp_1")
        let object = try #require(jsonObject(stored.fileBytes()))
        #expect(jsonEqual(object, [
            "id": "resp_1", "owner": "key-a", "provider": "openai-main", "model": "gpt-4o", "session_id": "sess_1",
            "created_at": start.timeIntervalSince1970, "input": [["role": "user", "content": "Hi"]],
            "response": ["id": "resp_1", "object": "response", "status": "completed", "output": [Any]()],
        ]))
        let iso = #"{"id":"resp_9","owner":"k","provider":"p","model":"m","created_at":"2026-03-01T12:00:00.500Z","input":[],"response":{}}"#
        let read = try StoredResponse(fileBytes: bytes(iso))
        #expect(read.createdAt == start + 0.5 && read.sessionID == nil && text(read.input) == "[]")
    }

    @Test("files that do not hold a stored response are rejected with a reason")
    func malformedFiles() {
        let cases: [(String, String)] = [
            (#"{"id":"resp_1""#, "not a JSON object"),
            (#"[]"#, "not a JSON object"),
            (#"{"id":"resp_1","owner":"a","owner":"b","provider":"p","model":"m","created_at":1,"input":[],"response":{}}"#, "twice"),
            (#"{"id":"../x","owner":"a","provider":"p","model":"m","created_at":1,"input":[],"response":{}}"#, "invalid id"),
            (#"{"id":"resp_1","owner":7,"provider":"p","model":"m","created_at":1,"input":[],"response":{}}"#, "\"owner\""),
            (#"{"id":"resp_1","owner":"a","provider":"p","model":"m","created_at":-1,"input":[],"response":{}}"#, "created_at"),
            (#"{"id":"resp_1","owner":"a","provider":"p","model":"m","created_at":1e300,"input":[],"response":{}}"#, "created_at"),
            (#"{"id":"resp_1","owner":"a","provider":"p","model":"m","created_at":"yesterday","input":[],"response":{}}"#, "created_at"),
            (#"{"id":"resp_1","owner":"a","provider":"p","model":"m","created_at":1,"input":{},"response":{}}"#, "\"input\""),
            (#"{"id":"resp_1","owner":"a","provider":"p","model":"m","created_at":1,"input":[],"response":[]}"#, "\"response\""),
        ]
        for (contents, reason) in cases {
            do {
                _ = try StoredResponse(fileBytes: bytes(contents))
                Issue.record("\(contents) was read")
            } catch {
                #expect(error.reason.contains(reason), "\(contents): \(error.reason)")
            }
        }
    }

    @Test("at load, expired files and the oldest over the limits are dropped and removed")
    func loadDropsExpiredAndOverLimit() throws {
        try withDirectory { directory in
            let writer = ResponseStore(directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start - 31 * day))
            writer.put(response("resp_expired", createdAt: start - 31 * day))
            for index in 1...3 { writer.put(response("resp_\(index)", createdAt: start - Double(index) * day)) }
            writer.flush()
            #expect(names(directory).count == 4)
            let reader = ResponseStore(directory: directory, limits: ResponseStoreLimits(maximumCount: 2), clock: ManualClock(start))
            reader.flush()
            #expect(reader.count == 2)
            #expect(names(directory) == ["resp_1.json", "resp_2.json"])
        }
    }

    @Test("at load, a corrupt file or one holding another id is skipped, reported and left alone; temporary leftovers go")
    func loadSkipsCorruptAndRemovesLeftovers() throws {
        try withDirectory { directory in
            let writer = ResponseStore(directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start))
            writer.put(response("resp_good"))
            writer.flush()
            try write(#"{"id":"resp_bad","owner":"#, named: "resp_bad.json", in: directory)
            try write(String(decoding: response("resp_other").fileBytes(), as: UTF8.self), named: "resp_moved.json", in: directory)
            try write("{", named: ".resp_good.json.tmp-123-456", in: directory)
            try write("notes", named: "README.txt", in: directory)
            let problems = ProblemLog()
            let reader = ResponseStore(
                directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start), reportProblem: problems.add)
            reader.flush()
            #expect(reader.count == 1 && reader.get("resp_good", owner: "key-a") != nil)
            #expect(names(directory) == ["README.txt", "resp_bad.json", "resp_good.json", "resp_moved.json"])
            #expect(problems.all.count == 2)
            #expect(problems.all.first?.contains("resp_bad.json") == true)
            #expect(problems.all.last?.contains("another id") == true)
        }
    }

    @Test("deleting, expiring or evicting a response removes its file")
    func fileRemoval() throws {
        try withDirectory { directory in
            let clock = ManualClock(start)
            let store = ResponseStore(
                directory: directory, limits: ResponseStoreLimits(maximumCount: 2, timeToLive: day), clock: clock)
            store.put(response("resp_deleted"))
            store.put(response("resp_expired", createdAt: start - day / 2))
            store.flush()
            #expect(names(directory) == ["resp_deleted.json", "resp_expired.json"])
            store.delete("resp_deleted", owner: "key-a")
            clock.advance(by: day / 2)
            #expect(store.get("resp_expired", owner: "key-a") == nil)
            store.put(response("resp_1", createdAt: clock.now()))
            store.put(response("resp_2", createdAt: clock.now() + 1))
            store.put(response("resp_3", createdAt: clock.now() + 2))
            store.flush()
            #expect(names(directory) == ["resp_2.json", "resp_3.json"])
        }
    }

    @Test("a response whose input is not a JSON array stays in memory but is never written (its text cannot forge fields)")
    func unsafeBytesAreNotWritten() throws {
        try withDirectory { directory in
            let problems = ProblemLog()
            let store = ResponseStore(
                directory: directory, limits: ResponseStoreLimits(), clock: ManualClock(start), reportProblem: problems.add)
            let forged = response("resp_1", owner: "key-a", input: #"[],"owner":"key-b""#)
            store.put(forged)
            store.flush()
            #expect(names(directory).isEmpty)
            #expect(problems.all.count == 1 && problems.all[0].contains("resp_1"))
            #expect(store.get("resp_1", owner: "key-a") == forged)
        }
    }
}
