import Foundation
import Testing
@testable import SwitchyardCore

/// Config validation rejects providers whose usage files would be the same file.
@Suite struct ConfigUsageFileNameTests {
    func load(_ contents: String) throws -> LoadedConfig {
        try ConfigLoader.validate(ConfigNode.parse(contents: contents, fileName: "provider.json"), file: "provider.json", environment: [:])
    }

    /// Every problem of a config that must fail validation.
    func problems(_ contents: String) throws -> [String] {
        do {
            _ = try load(contents)
            Issue.record("expected validation to fail")
            return []
        } catch let error as ConfigValidationError {
            return error.problems.map(\.description)
        }
    }

    func provider(_ name: String) -> String {
        #"{"name":"\#(name)","endpoint":"https://api.example.com/v1","model":"m"}"#
    }

    func model(_ name: String, _ providers: String...) -> String {
        #""\#(name)":{"providers":["# + providers.map(provider).joined(separator: ",") + "]}"
    }

    @Test func namesSanitisingToTheSameFileAcrossModelsAreRejected() throws {
        let found = try problems("{" + model("a_b", "c") + "," + model("a", "b_c") + "}")
        #expect(found == ["a.providers[0].name: its usage file a_b_c.json would be the same as a_b/c's; rename one of them"])
    }

    @Test func namesSanitisingToTheSameFileInOneModelAreRejected() throws {
        let found = try problems("{" + model("gpt-4o", "x/y", "x_y") + "}")
        #expect(found.count == 1)
        let problem = try #require(found.first)
        #expect(problem.hasPrefix("gpt-4o.providers[1].name: "), "names the location: \(problem)")
        #expect(problem.contains("gpt-4o_x_y.json"))
        #expect(problem.contains("gpt-4o/x/y"))

        let spaced = try problems("{" + model("m", "my provider", "my_provider", "my-provider") + "}")
        #expect(spaced == ["m.providers[1].name: its usage file m_my_provider.json would be the same as m/my provider's; rename one of them"])
    }

    @Test func aDuplicateProviderNameIsReportedOnceAsADuplicate() throws {
        let found = try problems("{" + model("gpt-4o", "p", "p") + "}")
        #expect(found == [#"gpt-4o.providers[1].name: duplicate provider name "p" (also gpt-4o.providers[0])"#])

        // A duplicate of a name whose file another name also maps to: one collision and one duplicate.
        let mixed = try problems("{" + model("m", "x/y", "x_y", "x/y") + "}")
        #expect(mixed.count == 2)
        #expect(mixed.contains { $0.hasPrefix("m.providers[1].name: its usage file m_x_y.json") })
        #expect(mixed.contains { $0 == #"m.providers[2].name: duplicate provider name "x/y" (also m.providers[0])"# })
    }

    @Test func distinctFilesAreAccepted() throws {
        // `.` and `-` are kept, so these are three different files; the same provider name in two models is fine.
        let config = try load("{" + model("m", "a.b", "a_b", "a-b") + "," + model("n", "a.b") + "}").config
        #expect(config.models.map(\.name) == ["m", "n"])
        let files = config.models.flatMap { model in
            model.providers.map { UsageFiles.fileName(for: ProviderKey(model: model.name, provider: $0.name)) }
        }
        #expect(files == ["m_a.b.json", "m_a_b.json", "m_a-b.json", "n_a.b.json"])
    }
}
