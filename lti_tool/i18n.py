"""The tool's page texts in English and Chinese (the launch locale chooses)."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("SkillGap", "SkillGap 技能差距"),
    "next_modules": ("Your next modules", "推荐你接下来学习的模块"),
    "no_recommendations": (
        "No recommendations yet: they appear once your first activity has been processed (usually within a minute).",
        "暂无推荐：你的首个学习活动处理完成后（通常在一分钟内）即会显示。",
    ),
    "minutes": ("{n} min", "{n} 分钟"),
    "open_module": ("Open in the course", "在课程中打开"),
    "why": ("Why", "推荐理由"),
    "mandatory_title": ("Mandatory for your role", "你的岗位必修"),
    "mandatory_done": ("Done", "已完成"),
    "mandatory_due": ("Due {date}: {n} day(s) left", "{date} 截止：还剩 {n} 天"),
    "mandatory_overdue": ("Overdue: it was due {date}, {n} day(s) ago", "已逾期：应于 {date} 前完成，已过 {n} 天"),
    "mastery_title": ("Your mastery against your role's target", "你的掌握程度与岗位目标"),
    "role": ("Role: {role}", "岗位：{role}"),
    "point": ("Knowledge point", "知识点"),
    "mastery": ("Mastery", "掌握程度"),
    "target": ("Target", "目标"),
    "gap": ("Gap", "差距"),
    "mastery_value": ("{mastery} of target {target}", "{mastery}，目标 {target}"),
    "on_target": ("on target", "已达标"),
    "this_module": ("You opened: {title}", "你打开了：{title}"),
    "module_covers": ("It trains: {points}.", "本模块训练：{points}。"),
    "method_online": ("online course", "线上课程"),
    "method_offline": ("workshop", "线下培训"),
    "method_lab": ("virtual lab", "虚拟实验"),
    "method_drill": ("hands-on drill", "实战演练"),
    "method_quiz": ("knowledge test", "知识测试"),
    "method_project": ("project", "综合项目"),
    "cohort_title": ("Skill gaps of {course}", "{course} 的技能差距"),
    "learners_count": ("{n} learners", "{n} 名学员"),
    "heatmap": ("Gap heatmap: mean shortfall below target, by role", "差距热力图：各岗位低于目标的平均差距"),
    "heatmap_note": (
        "Each cell: how far the role's learners are below their target on average (0 = on target).",
        "每个单元格：该岗位学员平均低于目标的程度（0 表示已达标）。",
    ),
    "largest_gaps": ("Largest gaps", "最大的差距"),
    "below_target": ("{n} of {total} below target", "{total} 人中有 {n} 人未达标"),
    "loss": ("total shortfall", "总差距"),
    "loss_define": (
        "Σ max(0, target − mastery)² over the course's learners on this point: 0 when all are on target; "
        "one learner 50 points below target adds 0.25.",
        "该知识点上全班 Σ max(0, 目标 − 掌握度)²：全员达标为 0；一名学员低于目标 50 个百分点计 0.25。",
    ),
    "export_csv": ("Download CSV (learner × knowledge point)", "下载 CSV（学员 × 知识点）"),
    "no_learners": (
        "No learners in this course yet. They appear after their first launch or the next roster sync.",
        "本课程暂无学员数据。学员首次打开本工具或下次名册同步后即会出现。",
    ),
    "roster_synced": ("Course roster synced: {count} members.", "课程名册已同步：{count} 名成员。"),
    "roster_failed": (
        "The course roster could not be read from the LMS; it will be tried again.",
        "无法从 LMS 读取课程名册，稍后将重试。",
    ),
    "results_read": ("{count} grades read from the LMS gradebook.", "已从 LMS 成绩册读取 {count} 条成绩。"),
    "results_failed": ("Grades could not be read from the LMS gradebook.", "无法从 LMS 成绩册读取成绩。"),
    "role_learners": ("{n} learner(s)", "{n} 名学员"),
    "skip": ("Skip to content", "跳到正文"),
    "not_in_course": (
        "This course does not offer this module yet; ask your teacher.",
        "本课程尚未提供此模块，请询问你的老师。",
    ),
    "course_items": ("Course activities that train catalog modules", "训练目录模块的课程活动"),
    "no_course_items": (
        "No activity of this course is bound to a catalog module yet: their activity counts for no module.",
        "本课程尚无活动与目录模块绑定：这些活动不会计入任何模块。",
    ),
    "unbind": ("Unbind", "解除绑定"),
    "bind": ("Bind", "绑定"),
    "bind_help": (
        "Bind an activity: paste its link from the course page (e.g. …/mod/quiz/view.php?id=8) and choose the module it trains.",
        "绑定活动：粘贴课程页面中该活动的链接（如 …/mod/quiz/view.php?id=8），并选择它训练的模块。",
    ),
    "activity_link": ("Activity link", "活动链接"),
    "module": ("Module", "模块"),
    "missing_modules": (
        "Modules this course lacks for its learners' largest gaps",
        "本课程缺少的、针对学员最大差距的模块",
    ),
    "missing_how": (
        "Add one: Add an activity or resource → SkillGap → choose the module (it binds itself at its first launch).",
        "添加方法：添加活动或资源 → SkillGap → 选择该模块（首次打开时自动绑定）。",
    ),
    "bound": ("{item} now counts for {module}.", "{item} 现计入 {module}。"),
    "unbound": ("{item} no longer counts for a module.", "{item} 不再计入任何模块。"),
    "demo_title": ("Try SkillGap: a demo LMS", "试用 SkillGap：演示 LMS"),
    "demo_intro": (
        "This page stands in for an LMS course, {course}. Each button makes a real LTI 1.3 launch "
        "(OIDC login, signed id_token, launch validation) into the tool, as that person.",
        "本页代替 LMS 中的课程「{course}」。每个按钮都会以该用户身份向工具发起一次真实的 LTI 1.3 启动"
        "（OIDC 登录、签名的 id_token、启动校验）。",
    ),
    "demo_teacher": ("Open as the course's teacher", "以课程教师身份打开"),
    "demo_teacher_note": (
        "The cohort's gap heatmap, the largest gaps and a CSV export.",
        "班级差距热力图、最大差距与 CSV 导出。",
    ),
    "demo_learners": ("Open as a learner", "以学员身份打开"),
    "demo_learner": ("Learner {sub}", "学员 {sub}"),
    "demo_no_learners": (
        "The simulated cohort is not loaded yet: `skillgap run` loads it at start.",
        "模拟学员尚未加载：`skillgap run` 启动时会加载。",
    ),
    "demo_language": ("中文", "English"),
}


def text(key: str, language: str, **values: object) -> str:
    en, zh = TEXTS[key]
    return (zh if language == "zh" else en).format(**values)
