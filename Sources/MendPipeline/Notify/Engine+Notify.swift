import Foundation
import MendCore
import MendStore

/// Where the engine tells the notifier: after the commits of the lifecycle steps (Repair/),
/// and inside the batch's transaction where an incident opens (Ingest/Park), which only
/// queues a trigger; the notifier reads the committed facts later.
extension Engine {
    public func setNotifier(_ n: Notifier?) { notifier = n }
    public func setLinks(_ l: ApprovalLinks?) { links = l }

    /// Applies a plan, then posts `applied`, or `failed` when the run failed (the plan's
    /// stored status says which). A plan another worker moved on is not this run's news.
    func applyAndNotify(planID: Int64, incidentID: Int64, by who: String) async throws {
        do {
            try await apply(planID: planID, by: who)
            notifier?.post(NotifyTrigger(kind: .applied, incident: incidentID, plan: planID))
        } catch {
            if let notifier, let stored = try? await state.transaction({ tx in try await tx.plan(id: planID) }) {
                switch stored.plan.status {
                case .failed:
                    notifier.post(NotifyTrigger(kind: .failed, incident: incidentID, plan: planID, reason: stored.note ?? "\(error)"))
                case .applied: notifier.post(NotifyTrigger(kind: .applied, incident: incidentID, plan: planID))
                default: break
                }
            }
            throw error
        }
    }
}
