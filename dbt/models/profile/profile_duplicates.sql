with records as (

    select * from {{ ref('stg_records') }}

),

final as (

    select
        count(*) as rows,
        count(*) - count(distinct record_id) as duplicate_records,
        count(*) - count(distinct lower(trim(instruction))) as duplicate_instructions,
        count(*) - count(distinct (lower(trim(instruction)), lower(trim(input_text))))
            as duplicate_prompts,
        count(*) filter (where length(trim(output_text)) > 0)
            - count(distinct lower(trim(output_text))) filter (where length(trim(output_text)) > 0)
            as duplicate_nonempty_outputs
    from records

)

select * from final
