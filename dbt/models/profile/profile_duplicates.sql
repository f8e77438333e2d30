-- Each distinct count is a grouping of its own: DuckDB's grouped aggregates spill to disk
-- under the memory budget, where count(distinct ...) over the whole table does not.
with records as (

    select * from {{ ref('stg_records') }}

),

totals as (

    select
        count(*) as rows,
        count(*) filter (where length(trim(output_text)) > 0) as nonempty_outputs
    from records

),

distinct_records as (

    select count(*) as n from (select record_id from records where record_id is not null group by 1)

),

distinct_instructions as (

    select count(*) as n from (
        select lower(trim(instruction)) from records where instruction is not null group by 1)

),

distinct_prompts as (

    select count(*) as n from (
        select lower(trim(instruction)), lower(trim(input_text)) from records group by 1, 2)

),

distinct_nonempty_outputs as (

    select count(*) as n from (
        select lower(trim(output_text)) from records where length(trim(output_text)) > 0 group by 1)

),

final as (

    select
        totals.rows,
        totals.rows - distinct_records.n as duplicate_records,
        totals.rows - distinct_instructions.n as duplicate_instructions,
        totals.rows - distinct_prompts.n as duplicate_prompts,
        totals.nonempty_outputs - distinct_nonempty_outputs.n as duplicate_nonempty_outputs
    from totals, distinct_records, distinct_instructions, distinct_prompts, distinct_nonempty_outputs

)

select * from final
