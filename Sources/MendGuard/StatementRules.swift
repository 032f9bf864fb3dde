import Foundation
import MendCore

/// Statements other than ALTER TABLE: none is allowed on the repair path, but each gets the most
/// specific rule name so a human knows why and what to do instead.
enum StatementRules {
    static let dml: Set<String> = ["InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"]

    static func refuse(type: String, fields: PgJSON) -> [GuardFinding] {
        let main = primary(type: type, fields: fields)
        // Writes nested anywhere below the top node: data-modifying CTEs, EXPLAIN ANALYZE, rule actions…
        var hidden: [GuardFinding] = []
        let nested = fields.allNodes()
        let cteWrites = nested.filter { $0.type == "CommonTableExpr" }
            .compactMap { $0.fields["ctequery"]?.node?.type }.filter { dml.contains($0) }
        if !cteWrites.isEmpty {
            hidden.append(
                GuardFinding(
                    rule: "cte-write", risk: .forbidden,
                    reason:
                        "A WITH clause hides a data-modifying statement (\(cteWrites.joined(separator: ", "))) that runs even though the outer statement looks like a \(type).",
                    saferAlternative: "Data changes are not part of schema repair; run them through the pipeline's own load path."))
        } else if nested.contains(where: { dml.contains($0.type) }) && !dml.contains(type) {
            hidden.append(
                GuardFinding(
                    rule: "hidden-write", risk: .forbidden,
                    reason: "A data-modifying statement is nested inside this \(type).",
                    saferAlternative: "Data changes are not part of schema repair."))
        }
        // The specific rule leads, unless the statement is only "not allow-listed" and hides a write.
        return main.rule == "not-allow-listed" ? hidden + [main] : [main] + hidden
    }

    private static func objectName(_ objtype: String?) -> String {
        (objtype ?? "OBJECT_UNKNOWN").replacingOccurrences(of: "OBJECT_", with: "").lowercased()
            .replacingOccurrences(of: "_", with: " ")
    }

    private static func primary(type: String, fields f: PgJSON) -> GuardFinding {
        func forbid(_ rule: String, _ reason: String, _ safer: String? = nil) -> GuardFinding {
            GuardFinding(rule: rule, risk: .forbidden, reason: reason, saferAlternative: safer)
        }
        let noData = "Mend's repair path never changes or removes rows; use the pipeline's load path (quarantine, replay) for data."
        switch type {
        case _ where type.hasPrefix("Drop"):
            let what = type == "DropStmt" ? objectName(f["removeType"]?.string) : type.dropFirst(4).dropLast(4).lowercased()
            return forbid(
                "destructive-drop", "DROP \(what.uppercased()) destroys objects and their data irreversibly.",
                "Leave the object in place; to retire a column, stop writing it and let a human drop it in a reviewed migration.")
        case "TruncateStmt":
            return forbid("truncate", "TRUNCATE deletes every row of the table.", noData)
        case "DeleteStmt":
            return forbid("delete", "DELETE removes rows; schema repair never deletes data.", noData)
        case "UpdateStmt":
            return forbid("update", "UPDATE rewrites rows; schema repair never changes data.", noData)
        case "InsertStmt":
            return forbid("insert", "INSERT writes rows; schema repair never writes data.", noData)
        case "MergeStmt":
            return forbid("merge", "MERGE inserts, updates or deletes rows; schema repair never changes data.", noData)
        case "GrantStmt", "GrantRoleStmt", "AlterDefaultPrivilegesStmt":
            let verb = f["is_grant"]?.bool == true ? "GRANT" : "REVOKE"
            return forbid(
                "grant-revoke", "\(type == "AlterDefaultPrivilegesStmt" ? "ALTER DEFAULT PRIVILEGES" : verb) changes who may access data.",
                "Privileges are managed by a database administrator, not by automated repair.")
        case "CreateFunctionStmt":
            let what = f["is_procedure"]?.bool == true ? "PROCEDURE" : "FUNCTION"
            return forbid(
                "create-function", "CREATE \(what) installs code that can run arbitrary SQL later.",
                "Ship functions in a reviewed migration.")
        case "CreateTrigStmt", "CreateEventTrigStmt":
            let what = type == "CreateEventTrigStmt" ? "EVENT TRIGGER" : "TRIGGER"
            return forbid(
                "create-trigger", "CREATE \(what) attaches code that runs on every matching write or DDL.",
                "Ship triggers in a reviewed migration.")
        case "RuleStmt":
            return forbid(
                "create-rule", "CREATE RULE silently rewrites queries on the table (it can turn reads into writes).",
                "Ship rules (or better, views) in a reviewed migration.")
        case "DoStmt":
            return forbid(
                "do-block", "DO runs an anonymous procedural block: arbitrary code the guard cannot judge.",
                "Submit the single ALTER TABLE statement the block would run.")
        case "CopyStmt":
            let program = f["is_program"]?.bool == true
            let dir = f["is_from"]?.bool == true ? "FROM" : "TO"
            return forbid(
                "copy",
                program
                    ? "COPY \(dir) PROGRAM runs a shell command on the database server."
                    : "COPY \(dir) moves data in bulk (and can read or write server files).",
                "Load data through the pipeline, which validates and quarantines rows.")
        case "VariableSetStmt":
            let name = f["name"]?.string ?? ""
            if name == "role" || name == "session_authorization" {
                let verb = f["kind"]?.string == "VAR_RESET" ? "RESET" : "SET"
                return forbid(
                    "set-role",
                    "\(verb) \(name.replacingOccurrences(of: "_", with: " ").uppercased()) changes the identity later statements run as.",
                    "The repair path runs as Mend's own role; privileges are not escalated per statement.")
            }
            return forbid(
                "not-allow-listed", "SET/RESET \(name) is not a repair statement; session settings are the executor's job.")
        case "AlterOwnerStmt", "ReassignOwnedStmt":
            return forbid(
                "owner-change", "Changing ownership hands full control of objects to another role.",
                "Ownership is a database administrator's decision.")
        case "RenameStmt":
            let what = objectName(f["renameType"]?.string)
            return forbid(
                "rename", "RENAME (\(what)) breaks every reader and writer that uses the old name.",
                "Add a new column (nullable), backfill it, and expose the new name through a view; drop the old one later in a reviewed migration."
            )
        case "AlterObjectSchemaStmt":
            return forbid(
                "set-schema", "SET SCHEMA moves the object out from under every reader that uses its qualified name.",
                "Create a view in the target schema instead.")
        case "AlterTableMoveAllStmt":
            return forbid("set-tablespace", "Moving tables between tablespaces rewrites them under an ACCESS EXCLUSIVE lock.")
        case "ClusterStmt":
            return forbid("cluster", "CLUSTER rewrites the whole table under an ACCESS EXCLUSIVE lock.")
        case "VacuumStmt":
            return forbid(
                "vacuum", "VACUUM/ANALYZE is maintenance (VACUUM FULL rewrites under ACCESS EXCLUSIVE), not a repair.",
                "Leave maintenance to autovacuum or a scheduled job.")
        case "CallStmt":
            return forbid("call", "CALL runs a stored procedure: arbitrary code the guard cannot judge.")
        case "ExecuteStmt", "PrepareStmt", "DeallocateStmt":
            return forbid(
                "prepared-statement", "PREPARE/EXECUTE runs SQL the guard cannot see at judgement time.",
                "Submit the statement itself.")
        case "LockStmt":
            return forbid("lock", "LOCK TABLE holds locks that block other sessions for the whole transaction.")
        case "SelectStmt":
            let funcs = f.allNodes().filter { $0.type == "FuncCall" }
                .map { ($0.fields["funcname"]?.stringList ?? []).joined(separator: ".") }
            let extra = funcs.isEmpty ? "" : " It also calls \(funcs.joined(separator: ", ")), which may have side effects."
            return forbid(
                "not-allow-listed", "SELECT is not a repair statement.\(extra)",
                "Only ALTER TABLE … ADD COLUMN and ALTER COLUMN … TYPE are accepted.")
        default:
            return forbid(
                "not-allow-listed", "\(type) is not on the allow-list (only ALTER TABLE … ADD COLUMN and ALTER COLUMN … TYPE are).",
                "Ask a human to apply it through a reviewed migration.")
        }
    }
}
