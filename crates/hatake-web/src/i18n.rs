//! UI strings in Japanese (default) and English, looked up by key from templates with `t("key")`.

/// (key, Japanese, English).
const MESSAGES: &[(&str, &str, &str)] = &[
    ("app.tagline", "B2Bデマンドセンター", "B2B demand center"),
    ("nav.dashboard", "ダッシュボード", "Dashboard"),
    ("nav.leads", "リード", "Leads"),
    ("nav.accounts", "企業", "Accounts"),
    ("nav.products", "商材", "Products"),
    ("nav.settings", "項目設定", "Fields"),
    ("nav.users", "ユーザー", "Users"),
    ("nav.tokens", "APIトークン", "API tokens"),
    ("nav.logout", "ログアウト", "Sign out"),
    ("nav.language", "English", "日本語"),
    ("login.title", "ログイン", "Sign in"),
    ("login.email", "メールアドレス", "E-mail"),
    ("login.password", "パスワード", "Password"),
    ("login.submit", "ログイン", "Sign in"),
    ("login.failed", "メールアドレスまたはパスワードが正しくありません。", "Wrong e-mail address or password."),
    (
        "login.throttled",
        "ログインの失敗が続いたため、このアカウントへのログインを15分間停止しています。",
        "Too many failed sign-ins: this account is locked for 15 minutes.",
    ),
    ("common.search", "検索", "Search"),
    ("common.save", "保存", "Save"),
    ("common.create", "登録", "Create"),
    ("common.edit", "編集", "Edit"),
    ("common.delete", "削除", "Delete"),
    ("common.cancel", "キャンセル", "Cancel"),
    ("common.next", "次へ", "Next"),
    ("common.prev", "前へ", "Previous"),
    ("common.first", "先頭へ", "First"),
    ("common.all", "すべて", "All"),
    ("common.none", "なし", "None"),
    ("common.result", "件", "result"),
    ("common.results", "件", "results"),
    ("common.more_than", "件以上", "or more"),
    ("common.no_results", "該当するデータがありません。", "Nothing matches."),
    ("common.created_at", "登録日時", "Created"),
    ("common.updated_at", "更新日時", "Updated"),
    ("common.actions", "操作", "Actions"),
    ("common.active", "有効", "Active"),
    ("common.inactive", "無効", "Inactive"),
    ("common.errors", "入力内容を確認してください。", "Please check the form."),
    ("common.confirm_delete", "削除してよろしいですか？", "Delete this record?"),
    ("common.saved", "保存しました。", "Saved."),
    ("common.deleted", "削除しました。", "Deleted."),
    ("lead.new", "リードを登録", "New lead"),
    ("lead.name", "氏名", "Name"),
    ("lead.family_name", "姓", "Family name"),
    ("lead.given_name", "名", "Given name"),
    ("lead.family_name_kana", "セイ", "Family name (kana)"),
    ("lead.given_name_kana", "メイ", "Given name (kana)"),
    ("lead.company", "会社名", "Company"),
    ("lead.account", "企業（マスタ）", "Account"),
    ("lead.email", "メールアドレス", "E-mail"),
    ("lead.phone", "電話番号", "Phone"),
    ("lead.department", "部署", "Department"),
    ("lead.title", "役職", "Title"),
    ("lead.prefecture", "都道府県", "Prefecture"),
    ("lead.address", "住所", "Address"),
    ("lead.source", "獲得経路", "Source"),
    ("lead.owner", "担当者", "Owner"),
    ("lead.products", "関心商材", "Products"),
    ("lead.kind", "区分", "Kind"),
    ("lead.kind.lead", "リード", "Lead"),
    ("lead.kind.list", "リスト", "List"),
    ("lead.missing", "不足項目", "Missing"),
    ("lead.complete", "必須項目はすべて揃っています。", "Every required field is present."),
    (
        "lead.required_legend",
        "リードとして扱うために必要な項目です（未入力でも保存でき、その場合は「リスト」になります）。",
        "Needed for the record to count as a lead (it can be saved without them, as a list entry).",
    ),
    ("lead.custom", "ヒアリング・カスタム項目", "Hearing and custom fields"),
    ("lead.timeline", "活動履歴", "Activity timeline"),
    (
        "lead.timeline_empty",
        "まだ活動はありません。行動履歴・メール・商談の記録がここに表示されます。",
        "No activity yet. Behaviour, mail and meetings will appear here.",
    ),
    ("lead.search_placeholder", "氏名・会社名・メール・電話で検索", "Search by name, company, e-mail or phone"),
    ("lead.sort", "並び順", "Sort"),
    ("lead.sort.updated", "更新が新しい順", "Recently updated"),
    ("lead.sort.created", "登録が新しい順", "Newest"),
    ("lead.sort.name", "フリガナ順", "By reading"),
    ("lead.unassigned", "未割当", "Unassigned"),
    ("account.new", "企業を登録", "New account"),
    ("account.name", "企業名", "Name"),
    ("account.corporate_number", "法人番号", "Corporate number"),
    ("account.domains", "ドメイン", "Domains"),
    ("account.industry", "業種", "Industry"),
    ("account.employee_count", "従業員数", "Employees"),
    ("account.annual_revenue", "年商（円）", "Annual revenue (JPY)"),
    ("account.abm_tier", "ABMティア", "ABM tier"),
    ("account.people", "所属するリード", "People"),
    ("account.search_placeholder", "企業名・法人番号で検索", "Search by name or corporate number"),
    ("product.new", "商材を登録", "New product"),
    ("product.code", "コード", "Code"),
    ("product.name", "商材名", "Name"),
    ("product.description", "説明", "Description"),
    ("product.leads", "関心リード", "Interested leads"),
    ("user.new", "ユーザーを追加", "Add user"),
    ("user.display_name", "表示名", "Display name"),
    ("user.role", "ロール", "Role"),
    ("user.status", "状態", "Status"),
    ("user.new_password", "新しいパスワード", "New password"),
    (
        "user.new_password_hint",
        "空欄なら変更しません。設定するとそのユーザーはログアウトされます（10文字以上）。",
        "Leave blank to keep it. Setting one signs the user out (at least 10 characters).",
    ),
    ("me.title", "アカウント", "My account"),
    ("me.change_password", "パスワードの変更", "Change password"),
    ("me.current_password", "現在のパスワード", "Current password"),
    ("me.new_password", "新しいパスワード（10文字以上）", "New password (at least 10 characters)"),
    ("me.confirm_password", "新しいパスワード（確認）", "New password again"),
    ("me.password_changed", "パスワードを変更しました。", "Your password has been changed."),
    ("token.new", "トークンを発行", "Create token"),
    ("token.name", "名前", "Name"),
    ("token.user", "実行ユーザー", "Acts as"),
    ("token.prefix", "先頭", "Prefix"),
    ("token.last_used", "最終利用", "Last used"),
    ("token.revoke", "失効", "Revoke"),
    ("token.revoked", "失効済み", "Revoked"),
    (
        "token.shown_once",
        "このトークンは今だけ表示されます。安全な場所に保存してください。",
        "This token is shown only now. Store it somewhere safe.",
    ),
    ("settings.required", "リードの必須項目（7点セット）", "Fields a lead needs (7-point set)"),
    (
        "settings.required_help",
        "すべて揃ったレコードを「リード」、欠けているものを「リスト」として扱います。",
        "Records with all of these count as leads; the rest are list entries.",
    ),
    ("settings.custom_fields", "カスタム項目（情報資産）", "Custom fields (information assets)"),
    ("settings.key", "キー", "Key"),
    ("settings.label_ja", "項目名（日本語）", "Label (Japanese)"),
    ("settings.label_en", "項目名（英語）", "Label (English)"),
    ("settings.kind", "種類", "Type"),
    ("settings.choices", "選択肢（カンマ区切り）", "Choices (comma-separated)"),
    ("settings.choices_list", "選択肢", "Choices"),
    ("settings.kind.text", "テキスト", "Text"),
    ("settings.kind.number", "数値", "Number"),
    ("settings.kind.date", "日付", "Date"),
    ("settings.kind.choice", "選択肢", "Choice"),
    (
        "settings.key_hint",
        "英小文字で始まり、英小文字・数字・_ のみ（例: budget）",
        "Starts with a-z; only a-z, 0-9 and _ (e.g. budget)",
    ),
    ("settings.new_field", "カスタム項目を追加", "Add a custom field"),
    ("settings.no_custom_fields", "カスタム項目はまだありません。", "No custom fields yet."),
    ("settings.confirm_delete_field", "この項目を削除してよろしいですか？", "Delete this field?"),
    ("settings.required_saved", "必須項目を保存しました。", "Saved the required fields."),
    ("settings.reclassified", "リード／リストの区分が変わったレコード", "Records whose lead/list kind changed"),
    (
        "settings.reclassify_note",
        "保存すると全レコードの区分を再判定します。",
        "Saving re-checks the kind of every record.",
    ),
    ("account.tier.tier1", "ティア1", "Tier 1"),
    ("account.tier.tier2", "ティア2", "Tier 2"),
    ("account.tier.tier3", "ティア3", "Tier 3"),
    ("account.lead_count", "リード数", "Leads"),
    (
        "account.confirm_delete",
        "この企業を削除してよろしいですか？所属するリードは残り、企業との紐付けが外れます。",
        "Delete this account? Its leads stay, unlinked.",
    ),
    ("account.all_people", "すべてのリードを見る", "See all its leads"),
    ("account.add_person", "リードを追加", "Add a person"),
    ("account.corporate_number_hint", "13桁の数字", "13 digits"),
    ("account.domains_hint", "カンマまたはスペース区切り", "Separated by commas or spaces"),
    ("product.code_hint", "英数字と - _（例: crm-cloud）", "Letters, digits, - and _ (e.g. crm-cloud)"),
    ("user.you", "自分", "you"),
    (
        "user.self_hint",
        "自分自身を無効にしたり、管理者以外のロールにしたりすることはできません。",
        "You cannot deactivate yourself or give up your admin role.",
    ),
    ("user.initial_password", "初期パスワード", "Initial password"),
    ("user.password_hint", "10文字以上", "At least 10 characters"),
    ("token.created", "トークンを発行しました。", "Token created."),
    ("token.revoked_done", "トークンを失効させました。", "Token revoked."),
    ("token.confirm_revoke", "このトークンを失効させてよろしいですか？", "Revoke this token?"),
    ("token.none", "APIトークンはまだありません。", "No API tokens yet."),
    ("dashboard.title", "ダッシュボード", "Dashboard"),
    ("dashboard.leads", "リード（必須項目充足）", "Leads (complete)"),
    ("dashboard.lists", "リスト（項目不足）", "List entries (incomplete)"),
    ("dashboard.accounts", "企業", "Accounts"),
    ("dashboard.products", "商材", "Products"),
    ("error.title", "エラー", "Error"),
    ("error.not_found", "ページが見つかりません。", "Page not found."),
    ("error.forbidden", "この操作を行う権限がありません。", "Your role may not do this."),
    ("error.csrf", "フォームの有効期限が切れました。もう一度お試しください。", "The form expired. Please try again."),
    ("error.internal", "サーバーでエラーが発生しました。", "Something went wrong on the server."),
    ("error.too_large", "送信された内容が大きすぎます（上限1MB）。", "What was sent is too large (the limit is 1 MB)."),
    ("error.back", "戻る", "Go back"),
];

/// The string for `key` in `locale` (`ja` or `en`); an unknown key is returned as is, so a
/// missing translation shows up on the page rather than silently vanishing.
pub fn t<'a>(locale: &str, key: &'a str) -> &'a str {
    match MESSAGES.iter().find(|(k, _, _)| *k == key) {
        Some((_, ja, en)) => {
            if locale == "en" {
                en
            } else {
                ja
            }
        }
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_present() {
        let mut keys: Vec<&str> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate i18n key");
        assert!(MESSAGES.iter().all(|(_, ja, en)| !ja.is_empty() && !en.is_empty()));
        assert_eq!(t("en", "nav.leads"), "Leads");
        assert_eq!(t("ja", "nav.leads"), "リード");
        assert_eq!(t("ja", "no.such.key"), "no.such.key");
    }
}
