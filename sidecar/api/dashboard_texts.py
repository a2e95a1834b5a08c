"""The dashboard's words in English and Chinese. Plain words on the page; the exact definition
of each figure in its tooltip (`define_*`)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("SkillGap dashboard", "SkillGap 分析看板"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "token": ("Analyst token", "分析员令牌"),
    "token_help": (
        "`make run` prints one; `skillgap token create --tenant T` makes more. It is sent once, in this form, "
        "and never appears in a URL.",
        "`make run` 会打印一个；`skillgap token create --tenant T` 可再创建。令牌仅通过此表单提交一次，绝不出现在网址中。",
    ),
    "bad_token": ("Unknown or revoked token.", "令牌无效或已被撤销。"),
    "session_expired": ("Your session has ended: sign in again.", "会话已结束，请重新登录。"),
    "bad_form": ("The form expired: sign in again.", "表单已过期，请重新登录。"),
    "nav_overview": ("Overview", "概览"),
    "nav_gaps": ("Gaps", "差距"),
    "nav_modules": ("Module effectiveness", "模块成效"),
    "nav_docs": ("API docs", "API 文档"),
    "tenant": ("Tenant {tenant}", "租户 {tenant}"),
    "learners": ("Learners", "学员"),
    "roles": ("Roles", "岗位"),
    "cohorts": ("Cohorts", "班级"),
    "departments": ("Departments", "部门"),
    "events_per_day": (
        "Events applied per day (last {days} days, by the event's date; a repeat counts once)",
        "每日处理的学习事件（最近 {days} 天，按事件日期；重复的只计一次）",
    ),
    "no_events": ("No events in this period.", "此期间没有事件。"),
    "pipeline": ("Pipeline health", "处理管道状态"),
    "workers_alive": ("Workers running", "运行中的处理进程"),
    "events_applied": ("Events applied", "已处理事件"),
    "waiting": ("Waiting to be processed", "等待处理"),
    "oldest_wait": ("Oldest waiting for", "最长等待"),
    "dead_letters": ("Rejected entries", "被拒条目"),
    "define_dead_letters": (
        "Log entries the workers could not read, set aside in the dead-letter stream (see skillgap replay).",
        "处理进程无法读取的日志条目，已移入死信流（见 skillgap replay）。",
    ),
    "define_waiting": (
        "Stream entries not yet read by a worker, plus those read but not yet committed.",
        "尚未被处理进程读取的条目，加上已读取但尚未提交的条目。",
    ),
    "status_ok": ("running", "正常"),
    "status_no_workers": ("no worker is running: events wait", "没有处理进程在运行：事件正在等待"),
    "shortfall_total": ("Total shortfall below target", "低于目标的总差距"),
    "define_shortfall_total": (
        "Gap score L = Σ max(0, target − mastery)² over every learner and knowledge point, mastery decayed to now. "
        "0 means everyone is on target; one learner 50 points below target on one point adds 0.25.",
        "差距分 L = Σ max(0, 目标 − 掌握度)²，对所有学员和知识点求和，掌握度按遗忘衰减至当前。0 表示全员达标；"
        "一名学员在一个知识点上低于目标 50 个百分点计 0.25。",
    ),
    "heatmap_title": (
        "Gap heatmap: how far below target each role is, per knowledge point",
        "差距热力图：各岗位在每个知识点上低于目标的程度",
    ),
    "heatmap_help": (
        "Each cell: the mean shortfall of the role's learners, in points of mastery (0 = on target, blank = no "
        "target for that role). Open a cell for its learners.",
        "每个单元格：该岗位学员的平均差距（掌握度百分点；0 表示达标，空白表示该岗位无此目标）。点击单元格查看学员。",
    ),
    "heatmap_cell": (
        "{column}, {row}: on average {value} points below target",
        "{column}，{row}：平均低于目标 {value} 个百分点",
    ),
    "all_learners": ("All learners", "全部学员"),
    "cohort": ("Cohort", "班级"),
    "department": ("Department", "部门"),
    "show": ("Show", "显示"),
    "by_cohort": ("By cohort", "按班级"),
    "by_department": ("By department (from HR: skillgap import-people)", "按部门（来自 HR：skillgap import-people）"),
    "no_department": ("(not in the HR file)", "（HR 文件中没有）"),
    "by_role": ("By role", "按岗位"),
    "learner": ("Learner", "学员"),
    "role": ("Role", "岗位"),
    "shortfall": ("Shortfall", "差距"),
    "define_shortfall": (
        "target − mastery when below target, else 0 (points of mastery)",
        "低于目标时为 目标 − 掌握度，否则为 0（百分点）",
    ),
    "gap_score": ("Gap score", "差距分"),
    "define_gap_score": (
        "Σ max(0, target − mastery)² over the knowledge points (0 = on target everywhere)",
        "对各知识点求和 Σ max(0, 目标 − 掌握度)²（0 表示全部达标）",
    ),
    "cell_title": ("{role} on {point}: learners by shortfall", "{role} · {point}：按差距排序的学员"),
    "mastery": ("Mastery", "掌握度"),
    "target": ("Target", "目标"),
    "learner_title": ("Learner {learner}", "学员 {learner}"),
    "mastery_title": ("Mastery against target", "掌握度与目标"),
    "mastery_help": (
        "Bar: estimated mastery now. Black line across it: ± how sure we are (one standard deviation of the "
        "estimate). Thick tick: the role's target.",
        "条形：当前估计的掌握度。横线：估计的不确定范围（一个标准差）。粗竖线：岗位目标。",
    ),
    "bar_title": (
        "{name}: mastery {mastery}% ± {sd}, target {target}%",
        "{name}：掌握度 {mastery}% ± {sd}，目标 {target}%",
    ),
    "uncertainty": ("± how sure", "± 不确定度"),
    "define_uncertainty": (
        "Standard deviation of the mastery estimate (at most 29 points: nothing known yet).",
        "掌握度估计的标准差（最大 29 个百分点，即尚无任何信息）。",
    ),
    "recommendations": ("Recommended next modules", "推荐的下一步模块"),
    "expected_gain": ("Expected gap closed", "预计缩小的差距"),
    "define_expected_gain": (
        "How much the learner's gap score is expected to fall after this module (expected_gain in the API).",
        "完成该模块后学员差距分的预计降幅（API 中的 expected_gain）。",
    ),
    "minutes": ("Minutes", "分钟"),
    "why": ("Why", "理由"),
    "no_recommendations": ("No recommendations yet.", "暂无推荐。"),
    "recent_events": ("Recent activity", "最近的学习活动"),
    "no_recent": ("No recent activity kept for this learner.", "未保留该学员的近期活动。"),
    "when": ("When", "时间"),
    "what": ("What", "内容"),
    "score": ("Score", "得分"),
    "modules_title": ("Module effectiveness: how much each module teaches", "模块成效：各模块的教学效果"),
    "modules_help": (
        "Dot: the learning rate fitted from your learners' results, with its 95% range (±1.96 standard errors). "
        "Hollow diamond: the catalog's assumed rate. A higher rate: one pass of the module moves more learners "
        "to mastery of the point.",
        "实心点：根据学员成绩拟合的学习率及其 95% 区间（±1.96 标准误）。空心菱形：目录中的预设学习率。学习率越高，"
        "完成一次该模块后掌握该知识点的学员越多。",
    ),
    "dot_title": (
        "{name}: fitted {fitted} (standard error {error}), catalog {catalog}",
        "{name}：拟合值 {fitted}（标准误 {error}），目录值 {catalog}",
    ),
    "no_fit": (
        "No fitted parameter version yet: the rates are the catalog's. Run `skillgap fit --from-log --activate` "
        "once learners have results.",
        "尚无拟合的参数版本：显示的是目录中的学习率。学员有成绩后运行 `skillgap fit --from-log --activate`。",
    ),
    "fitted_version": ("Fitted parameter version {version}.", "拟合参数版本 {version}。"),
    "nav_overdue": ("Mandatory modules", "必修模块"),
    "overdue_title": ("Mandatory modules: overdue and due soon", "必修模块：已逾期与即将到期"),
    "overdue_help": (
        "Modules the catalog makes mandatory for a role that the learner has not completed (no completed or graded "
        "event), overdue or due within the days chosen. Due dates count from the person's start date from HR, else "
        "from their first activity.",
        "目录规定某岗位必须完成、而学员尚未完成（没有完成或评分事件）的模块，已逾期或在所选天数内到期。截止日期从 HR "
        "提供的入职日期起算，没有时从其首次学习活动起算。",
    ),
    "overview_overdue": (
        "Mandatory modules: who is overdue or due soon",
        "必修模块：哪些人已逾期或即将到期",
    ),
    "all_roles": ("All roles", "全部岗位"),
    "within_days": ("Due within (days)", "多少天内到期"),
    "overdue_count": ("Overdue", "已逾期"),
    "define_overdue": (
        "Learner and module pairs past their due date and not completed.",
        "已过截止日期且尚未完成的（学员，模块）组合数。",
    ),
    "due_soon_count": ("Due within {days} days", "{days} 天内到期"),
    "module": ("Module", "模块"),
    "due": ("Due", "截止日期"),
    "status": ("Status", "状态"),
    "status_overdue": ("{n} day(s) overdue", "已逾期 {n} 天"),
    "status_due": ("due in {n} day(s)", "还剩 {n} 天"),
    "status_done": ("done", "已完成"),
    "no_overdue": ("Nobody is overdue or due within {days} days.", "没有人逾期，也没有人在 {days} 天内到期。"),
    "download_csv": ("Download CSV", "下载 CSV"),
    "bad_filter": ("Unknown role or bad number of days.", "岗位不存在或天数无效。"),
    "nav_plan": ("Cost plan", "成本计划"),
    "plan_title": (
        "Cost plan: training time and cost to each role's target",
        "成本计划：达到岗位目标所需的培训时间与成本",
    ),
    "plan_help": (
        "What it takes to bring these learners to their role's target: following SkillGap's recommendations "
        "(adaptive) or taking the role's modules in catalog order (course order). Projected from what we know "
        "of each learner today; the range in brackets is where 8 in 10 outcomes fall, given how unsure that is.",
        "让这些学员达到岗位目标需要多少投入：按 SkillGap 的推荐学习（自适应路径），或按目录顺序学习该岗位的全部模块"
        "（课程顺序）。依据目前对每位学员的了解进行预测；括号中的范围是在这种不确定性下 80% 的结果所在区间。",
    ),
    "plan_minutes_per_week": ("Training minutes a week per learner", "每位学员每周培训分钟数"),
    "define_plan_minutes_per_week": (
        "Each learner trains this many minutes a week; a module of m minutes takes m / this many weeks, and "
        "mastery fades meanwhile.",
        "每位学员每周培训的分钟数；m 分钟的模块需要 m / 该值 周，其间掌握度会随遗忘下降。",
    ),
    "plan_bounds": (
        "Planned for {planned} learner(s), {paths} projections each, each stopping after {horizon} hours of training.",
        "共为 {planned} 名学员做了计划，每人 {paths} 次预测，每次最多预测 {horizon} 小时的培训。",
    ),
    "plan_truncated": (
        "Only the first {planned} of {matched} learners are planned (the limit per plan).",
        "仅计划了 {matched} 名学员中的前 {planned} 名（单次计划的上限）。",
    ),
    "plan_adaptive": ("Adaptive: hours per learner", "自适应：每人小时数"),
    "plan_course_order": ("Course order: hours per learner", "课程顺序：每人小时数"),
    "plan_adaptive_hours": ("Learner-hours, adaptive", "学员总学时（自适应）"),
    "plan_course_hours": ("Learner-hours, course order", "学员总学时（课程顺序）"),
    "define_plan_hours": (
        "Training hours of all planned learners until each is at target: the median over the projections "
        "(course order: hours trained within the limit when not at target by then).",
        "所有被计划学员达到目标前的培训小时数之和：各次预测的中位数（课程顺序在上限内未达标时，按上限内已培训的小时数计）。",
    ),
    "plan_saved": ("Learner-hours saved", "节省的学员学时"),
    "define_plan_saved": (
        "Course order's learner-hours minus the adaptive path's (median over projections); a lower bound where "
        "course order does not reach the target within the limit.",
        "课程顺序的学员学时减去自适应路径的学员学时（各次预测的中位数）；课程顺序在上限内未达标时为下限。",
    ),
    "plan_weeks": ("Weeks until all are at target", "全员达标所需周数"),
    "define_plan_weeks": (
        "Weeks until the slowest learner of the group reaches the target on the adaptive path, everyone "
        "training side by side (median over projections).",
        "所有人同时培训时，组内最慢的学员按自适应路径达标所需的周数（各次预测的中位数）。",
    ),
    "define_plan_per_learner": (
        "Median training hours per learner to reach the target; in brackets the 10th to 90th percentile over "
        "draws of what we know of each learner's mastery. At target: the gap score falls to 5% of today's.",
        "每位学员达标所需培训小时数的中位数；括号内为依据对学员掌握度的估计多次抽样所得的第 10 至第 90 百分位。"
        "达标：差距分降至当前的 5%。",
    ),
    "plan_reached": ("At target within the limit", "在上限内达标"),
    "define_plan_reached": (
        "Share of projections that reach the target within the limit: adaptive / course order.",
        "在上限内达标的预测所占比例：自适应 / 课程顺序。",
    ),
    "plan_course_short": (
        "Course order does not reach the target within the limit in {share} of projections: its hours and the "
        "savings are at least what is shown.",
        "在 {share} 的预测中，课程顺序在上限内未能达标：其学时与节省量至少为所示数值。",
    ),
    "plan_chart": ("Hours per learner to target, by role", "各岗位每位学员达标所需小时数"),
    "plan_bar_title": (
        "{name}, {series}: {median} hours per learner ({low}–{high})",
        "{name}，{series}：每人 {median} 小时（{low}–{high}）",
    ),
    "plan_cost_adaptive": ("Cost by training method: adaptive path", "按培训方式的成本：自适应路径"),
    "plan_cost_course_order": ("Cost by training method: course order", "按培训方式的成本：课程顺序"),
    "define_plan_cost": (
        "Median over projections, per method: modules taken (for workshops: seats) and learner-hours of "
        "all the role's planned learners.",
        "各次预测的中位数，按培训方式：所修模块数（线下培训即座位数）及该岗位所有被计划学员的学时。",
    ),
    "plan_taken": ("{n} taken", "{n} 次"),
    "plan_hours": ("{n} h", "{n} 小时"),
    "method_online": ("Online courses", "线上课程"),
    "method_offline": ("Workshops", "线下培训"),
    "method_lab": ("Virtual labs", "虚拟实验"),
    "method_drill": ("Hands-on drills", "实战演练"),
    "method_quiz": ("Knowledge tests", "知识测试"),
    "method_project": ("Projects", "综合项目"),
    "plan_export": (
        "The same plan as JSON or CSV through the API (GET /v1/plan) or the command line (`skillgap plan`).",
        "同一计划也可通过 API（GET /v1/plan）或命令行（`skillgap plan`）以 JSON 或 CSV 获取。",
    ),
    "plan_bad_by": ("The download is by role, cohort or learner.", "下载可按岗位、班级或学员。"),
    "plan_download": ("Download as CSV:", "下载 CSV："),
    "plan_by_role": ("by role", "按岗位"),
    "plan_by_cohort": ("by cohort", "按班级"),
    "plan_by_learner": ("by learner, with each one's modules", "按学员（含每人的模块）"),
    "plan_empty": ("No learners to plan for yet.", "暂无可计划的学员。"),
    "plan_bad_minutes": (
        "Training minutes a week must be a number from 15 to 2,400.",
        "每周培训分钟数须为 15 至 2400 之间的数字。",
    ),
    "plan_series_adaptive": ("Adaptive", "自适应"),
    "plan_series_course_order": ("Course order", "课程顺序"),
    "plan_link": (
        "Cost plan: how many training hours, weeks and workshop seats it takes to bring each role to target, "
        "and what the adaptive path saves against course order",
        "成本计划：各岗位达标需要多少培训学时、周数和线下培训座位，以及自适应路径相比课程顺序节省多少",
    ),
    "not_found": ("Not found in this tenant.", "在此租户中未找到。"),
    "other_language": ("中文", "English"),
}


def text(key: str, language: str, **values: object) -> str:
    """The text in `language`, filled with `values` (without values: the pattern itself, for
    charts that fill it per cell)."""
    en, zh = TEXTS[key]
    chosen = zh if language == "zh" else en
    return chosen.format(**values) if values else chosen
